package web

import (
	"strings"
	"testing"
	"time"
)

// TestLogSampler: per outcome, the first refusalLogFirst of a window are logged; the next
// window's first occurrence reports how many the last one suppressed.
func TestLogSampler(t *testing.T) {
	var l logSampler
	t0 := time.Unix(1000, 0)
	logged := 0
	for i := range 1000 {
		if ok, n, _ := l.allow("bad_signature", t0.Add(time.Duration(i)*time.Millisecond)); ok {
			logged++
		} else if n != 0 {
			t.Fatalf("a summary inside the window: %d", n)
		}
	}
	if logged != refusalLogFirst {
		t.Errorf("%d of 1000 logged in one window, want %d", logged, refusalLogFirst)
	}
	if ok, _, _ := l.allow("stale", t0.Add(time.Second)); !ok {
		t.Errorf("another outcome is not logged: each has its own window")
	}
	ok, n, w := l.allow("bad_signature", t0.Add(refusalLogWindow))
	if !ok || n != 1000-refusalLogFirst || w != refusalLogWindow {
		t.Errorf("next window: logged %v, suppressed %d in %v; want true, %d in %v", ok, n, w, 1000-refusalLogFirst, refusalLogWindow)
	}
	if got := truncate(strings.Repeat("é", 300)); len(got) > logFieldMax+30 || !strings.HasSuffix(got, "bytes more)") {
		t.Errorf("truncate: %d bytes %q", len(got), got[len(got)-20:])
	}
}
