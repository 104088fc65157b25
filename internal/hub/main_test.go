package hub

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newHub is New with what the wiring always passes, config's defaults, where a test leaves
// HistorySize or HistoryAge zero.
func newHub(c Config) *Hub {
	if c.HistorySize == 0 {
		c.HistorySize = config.DefaultHistorySize
	}
	if c.HistoryAge == 0 {
		c.HistoryAge = config.DefaultHistoryAge
	}
	return New(c)
}

func TestNewRequiresHistoryLimits(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(Config{}) did not panic: a hub without HISTORY_SIZE/HISTORY_AGE would keep nothing")
		}
	}()
	New(Config{})
}

// wait bounds every blocking receive in the tests.
const wait = 5 * time.Second

// clock is a settable time source for Config.Now.
type clock = fakeclock.Clock

func newClock() *clock {
	return fakeclock.New(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))
}

// frame is the union of the frame shapes a client decodes.
type frame struct {
	Type              string          `json:"type"`
	Seq               uint64          `json:"seq"`
	Epoch             string          `json:"epoch"`
	Time              time.Time       `json:"time"`
	Event             json.RawMessage `json:"event"`
	AfterSeq          uint64          `json:"after_seq"`
	FirstAvailableSeq uint64          `json:"first_available_seq"`
	Raw               string          `json:"-"`
}

func (f frame) String() string { return f.Raw }

func decode(t testing.TB, b []byte) frame {
	t.Helper()
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %q is not JSON: %v", b, err)
	}
	f.Raw = string(b)
	return f
}

// taken holds, per subscriber, frames a test has taken but not read yet: tests
// read one frame at a time, Take hands over all that wait.
var taken sync.Map // *Subscriber → *[]Frame

func takenOf(sub *Subscriber) *[]Frame {
	q, _ := taken.LoadOrStore(sub, new([]Frame))
	return q.(*[]Frame)
}

// recv returns the subscriber's next frame, waiting at most d (0: not at all).
func recv(sub *Subscriber, d time.Duration) (Frame, bool) {
	q := takenOf(sub)
	if len(*q) == 0 {
		*q = sub.Take(*q)
	}
	if len(*q) == 0 && d > 0 {
		select {
		case <-sub.Ready():
			*q = sub.Take(*q)
		case <-time.After(d):
		}
	}
	if len(*q) == 0 {
		return Frame{}, false
	}
	f := (*q)[0]
	*q = (*q)[1:]
	return f, true
}

// waiting is how many frames the subscriber has for the test to read.
func waiting(sub *Subscriber) int { return len(*takenOf(sub)) + sub.Pending() }

// next returns the subscriber's next frame, failing after wait.
func next(t testing.TB, sub *Subscriber) frame {
	t.Helper()
	f, ok := recv(sub, wait)
	if !ok {
		t.Fatalf("no frame within %v", wait)
	}
	return decode(t, f.Data)
}

func nextN(t testing.TB, sub *Subscriber, n int) []frame {
	t.Helper()
	fs := make([]frame, n)
	for i := range fs {
		fs[i] = next(t, sub)
	}
	return fs
}

// expectEmpty fails if a frame is waiting. Publish delivers synchronously, so
// an empty channel right after it means nothing was sent.
func expectEmpty(t testing.TB, sub *Subscriber) {
	t.Helper()
	if f, ok := recv(sub, 0); ok {
		t.Fatalf("unexpected frame %s", f.Data)
	}
}

// expectDone fails unless the subscriber has been dropped with want.
func expectDone(t testing.TB, sub *Subscriber, want error) {
	t.Helper()
	select {
	case <-sub.Done():
	default:
		t.Fatalf("subscriber still registered, want dropped with %v", want)
	}
	if err := sub.Err(); err != want {
		t.Fatalf("Err() = %v, want %v", err, want)
	}
}

func subscribe(t testing.TB, h *Hub, id string, r Resume) *Subscriber {
	t.Helper()
	sub, err := h.Subscribe(id, r)
	if err != nil {
		t.Fatalf("Subscribe(%q, %+v): %v", id, r, err)
	}
	t.Cleanup(sub.Close)
	return sub
}

func event(n int) Message {
	return Message{Type: "event_updated", Event: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// publish publishes events first..last to id and checks their seqs.
func publish(t testing.TB, h *Hub, id string, first, last uint64) {
	t.Helper()
	for seq := first; seq <= last; seq++ {
		if got := h.Publish(id, event(int(seq))); got != seq {
			t.Fatalf("Publish(%q) = seq %d, want %d", id, got, seq)
		}
	}
}

// seqRange returns first..last.
func seqRange(first, last uint64) []uint64 {
	var s []uint64
	for i := first; i <= last; i++ {
		s = append(s, i)
	}
	return s
}

// summary renders frames compactly: "gap(2>4)" for a gap notice, the seq for
// an event, "state" for anything else.
func summary(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		switch {
		case f.Type == "history_gap":
			out[i] = fmt.Sprintf("gap(%d>%d)", f.AfterSeq, f.FirstAvailableSeq)
		case f.Seq != 0:
			out[i] = fmt.Sprint(f.Seq)
		default:
			out[i] = "state:" + f.Type
		}
	}
	return out
}

func wantStats(t testing.TB, h *Hub, want Stats) {
	t.Helper()
	if got := h.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}
