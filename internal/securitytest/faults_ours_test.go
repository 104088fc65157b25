package securitytest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// post sends n genuine channel.update callbacks titled prefix+i (i from first), checking 204.
func post(t testing.TB, h *apptest.Harness, sid string, sub eventsub.Subscription, prefix string, first, n int, pad int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		title := fmt.Sprint(prefix, i)
		body := updateBody(sub, title+strings.Repeat(" ", pad))
		if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: title, Body: body})); a.Status != http.StatusNoContent {
			t.Fatalf("callback %s: %d", title, a.Status)
		}
	}
}

// TestSocketDropMidStream: the connection dies without a close frame in the middle of a burst
// of 100 events; the page reconnects with its epoch and last seq and gets the rest, once each.
func TestSocketDropMidStream(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	done := make(chan struct{})
	go func() { defer close(done); post(t, h, sid, sub, "e", 1, 100, 0) }()
	for s.LastSeq < 20 {
		nextEvent(t, s)
	}
	s.Conn.CloseNow() // no close frame: a dropped connection
	<-done
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	s2, err := b.Connect(ctx, s.Epoch, s.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	from := s.LastSeq
	for s2.LastSeq < 100 {
		if f := nextEvent(t, s2); f.Event.Title != fmt.Sprint("e", f.Seq) {
			t.Fatalf("seq %d is %q", f.Seq, f.Event.Title)
		}
	}
	t.Logf("observed: dropped after seq %d, resumed and got %d..100 once each", from, from+1)
}

// TestSlowBrowser: a tab that stops reading while large events keep arriving over real
// callbacks is closed with 4000 once more waits for it than the history holds (HISTORY_BYTES,
// 1 MiB by default; one write to it blocked for 10 s would do it too), and on
// reconnect gets every event it missed from the history: no gap.
func TestSlowBrowser(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	const most = 400 // 24 MiB: far beyond the socket buffers and the history
	n := 0
	for n < most && h.App.Hub.Stats().Slow == 0 {
		n++
		post(t, h, sid, sub, "big ", n, 1, 60<<10-1024) // ~60 KiB each, under the 64 KiB body limit
	}
	if h.App.Hub.Stats().Slow == 0 {
		t.Fatalf("a tab that read nothing while %d events of 60 KiB arrived was never dropped", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = s.Next(ctx)
	}
	if websocket.CloseStatus(err) != 4000 {
		t.Fatalf("slow tab closed with %v, want 4000", err)
	}
	got := s.LastSeq
	s2, err := b.Connect(ctx, s.Epoch, s.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for want := got + 1; s2.LastSeq < uint64(n); want++ {
		f, err := s2.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == "history_gap" {
			t.Fatalf("resuming after seq %d: %s", got, f.Raw)
		}
		if f.Type != "event_updated" {
			want--
			continue
		}
		if f.Seq != want || !strings.HasPrefix(f.Event.Title, fmt.Sprint("big ", f.Seq)) {
			t.Fatalf("seq %d (%.20q), want seq %d", f.Seq, f.Event.Title, want)
		}
	}
	t.Logf("observed: dropped after %d events of 60 KiB; had read %d; resumed %d..%d without a gap", n, got, got+1, n)
}

// TestManyTabs: 20 tabs of one session all get every event, in order.
func TestManyTabs(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, first, _ := watcher(t, h, "modmaria", "pixelpaladin")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tabs := []*apptest.Socket{first}
	for range 19 {
		s, err := b.Connect(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		tabs = append(tabs, s)
	}
	for i, s := range tabs[1:] { // every tab is past its welcome before the events start
		if _, err := s.WaitFeeds(ctx, func(map[string]apptest.Feed) bool { return true }); err != nil {
			t.Fatalf("tab %d: %v", i+2, err)
		}
	}
	sim := h.Sim
	sim.UpdateChannel(ctx, "pixelpaladin", "t1", "")
	sim.Follow(ctx, "quietquinn", "pixelpaladin")
	sim.UpdateUser(ctx, "pixelpaladin", "tabs")
	sim.EndStream(ctx, "pixelpaladin")
	sim.UpdateChannel(ctx, "pixelpaladin", "t5", "")
	want := []string{"channel.update", "channel.follow", "user.update", "stream.offline", "channel.update"}
	var wg sync.WaitGroup
	for i, s := range tabs {
		wg.Go(func() {
			for j, typ := range want {
				f, err := s.NextEvent(ctx)
				if err != nil || f.Event.Type != typ || f.Seq != uint64(j+1) {
					t.Errorf("tab %d, event %d: %v %s, want %s", i+1, j+1, err, f.Raw, typ)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("observed: %d tabs × %d events, each in order, once", len(tabs), len(want))
}
