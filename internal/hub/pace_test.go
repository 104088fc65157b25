package hub

import (
	"testing"
	"time"
)

// closed reports whether ch is closed (nil never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// PublishPaced hands back a channel only while a receiver is behind (more than a quarter of
// what may wait for it) and busy; Take closes it, and so does a drop. A receiver whose writer
// took nothing for longer than PaceWindow but is not in a write is busy (a starved writer not
// scheduled yet): it is still waited for. One whose writer has been blocked in one write for
// longer than PaceWindow is not reading: nobody waits for it.
func TestPublishPaced(t *testing.T) {
	c := newClock()
	h := newHub(Config{HistorySize: 1000, BufferSize: 40, MaxPendingBytes: 1 << 20, Now: c.Now})
	defer h.Close()
	sub := subscribe(t, h, "s", Resume{})
	other := subscribe(t, h, "quiet", Resume{})
	for i := 1; i <= 10; i++ { // BufferSize/4 = 10 frames may wait without pacing
		if pace := h.PublishPaced([]string{"s", "quiet"}, event(i)); pace != nil {
			t.Fatalf("frame %d: paced with %d frames waiting, want none up to 10", i, sub.Pending())
		}
	}
	pace := h.PublishPaced([]string{"s", "quiet"}, event(11))
	if pace == nil {
		t.Fatal("11 frames waiting: want a pace channel")
	}
	again := h.PublishPaced([]string{"s"}, event(12))
	if again != pace {
		t.Fatal("a second publisher got another channel for the same receiver")
	}
	if closed(pace) {
		t.Fatal("pace channel closed before the receiver took anything")
	}
	if got := len(sub.Take(nil)); got != 12 {
		t.Fatalf("took %d frames, want 12", got)
	}
	if !closed(pace) {
		t.Fatal("Take did not close the pace channel")
	}
	if p := h.PublishPaced([]string{"s"}, event(13)); p != nil {
		t.Fatal("paced right after the receiver caught up")
	}
	other.Take(nil)

	// Behind again, its writer not scheduled for longer than the pace window: busy, waited for.
	for i := 14; i <= 30; i++ {
		h.PublishPaced([]string{"s"}, event(i))
	}
	if h.PublishPaced([]string{"s"}, event(31)) == nil {
		t.Fatal("behind: want a pace channel")
	}
	c.Advance(3 * DefaultPaceWindow)
	if h.PublishPaced([]string{"s"}, event(32)) == nil {
		t.Fatal("behind, its writer not in a write (starved, not stalled): want a pace channel")
	}
	// Its writer blocked in one write: waited for up to the pace window, then not.
	sub.BeginWrite()
	c.Advance(DefaultPaceWindow)
	if h.PublishPaced([]string{"s"}, event(33)) == nil {
		t.Fatal("a write blocked for the pace window only: want a pace channel")
	}
	c.Advance(time.Millisecond)
	if p := h.PublishPaced([]string{"s"}, event(34)); p != nil {
		t.Fatal("paced for a receiver whose write has been blocked longer than the pace window")
	}
	sub.EndWrite()

	// A drop wakes the waiters too.
	sub.Take(nil)
	for i := 35; i <= 52; i++ {
		h.PublishPaced([]string{"s"}, event(i))
	}
	p := h.PublishPaced([]string{"s"}, event(53))
	if p == nil {
		t.Fatal("want a pace channel")
	}
	sub.Close()
	if !closed(p) {
		t.Fatal("closing the subscriber did not close the pace channel")
	}

	// By bytes: a quarter of MaxPendingBytes.
	hb := newHub(Config{HistorySize: 1000, MaxPendingBytes: 400, Now: c.Now})
	defer hb.Close()
	subscribe(t, hb, "s", Resume{})
	var got <-chan struct{}
	for i := 1; i <= 10 && got == nil; i++ {
		got = hb.PublishPaced([]string{"s"}, event(i))
	}
	if got == nil {
		t.Fatal("more than 100 bytes waiting: want a pace channel")
	}
}

// OnReady's hook runs when frames start waiting (once until they are taken), when the
// subscriber is dropped, and at once when frames already wait.
func TestOnReady(t *testing.T) {
	h := newHub(Config{HistorySize: 100})
	defer h.Close()
	h.Publish("s", event(1))
	sub := subscribe(t, h, "s", Resume{})
	calls := 0
	sub.OnReady(func() { calls++ }) // the backlog waits already
	if calls != 1 {
		t.Fatalf("%d calls with the backlog waiting, want 1", calls)
	}
	sub.Take(nil)
	h.Publish("s", event(2))
	h.Publish("s", event(3))
	if calls != 2 {
		t.Fatalf("%d calls after two publishes with nothing taken in between, want 2", calls)
	}
	if got := len(sub.Take(nil)); got != 2 {
		t.Fatalf("took %d frames, want 2", got)
	}
	h.Publish("s", event(4))
	if calls != 3 {
		t.Fatalf("%d calls after a publish following a Take, want 3", calls)
	}
	sub.Close()
	if calls != 4 {
		t.Fatalf("%d calls after Close, want 4", calls)
	}

	quiet := subscribe(t, h, "q", Resume{})
	n := 0
	quiet.OnReady(func() { n++ })
	if n != 0 {
		t.Fatal("called with nothing waiting")
	}
}

// TakeUpTo takes the oldest frames of at most maxBytes (at least one), keeps the rest waiting
// with Ready's value, and counts as progress: a socket that keeps taking is not stalled
// however long its queue is, and pacing keeps waiting for it while it is still behind.
func TestTakeUpTo(t *testing.T) {
	c := newClock()
	h := newHub(Config{HistorySize: 1000, BufferSize: 40, StallTimeout: 10 * time.Second, Now: c.Now})
	defer h.Close()
	h.Publish("s", event(1))
	sub := subscribe(t, h, "s", Resume{}) // one backlog frame
	publish(t, h, "s", 2, 20)
	size := len(sub.TakeUpTo(nil, 1)) // one frame, whatever its size
	if size != 1 || sub.Pending() != 19 {
		t.Fatalf("took %d, %d left; want 1 and 19", size, sub.Pending())
	}
	if !closed(sub.Ready()) {
		t.Fatal("frames wait but Ready has no value")
	}
	got := sub.TakeUpTo(nil, 3*len(`{"type":"event_updated","seq":2,"epoch":"0123456789abcdef","time":"2026-01-01T00:00:00Z","event":{"n":2}}`)+10)
	if len(got) < 2 || len(got) > 4 || sub.Pending() != 19-len(got) {
		t.Fatalf("took %d frames (%d left) of about 3 frames' bytes", len(got), sub.Pending())
	}
	if seq := decode(t, got[0].Data).Seq; seq != 2 {
		t.Fatalf("took seq %d first, want 2", seq)
	}
	// Taking nothing for longer than the stall timeout is no stall: 9 s, take a few, 19 s
	// more, publish: not dropped.
	c.Advance(9 * time.Second)
	sub.TakeUpTo(nil, 1)
	c.Advance(19 * time.Second)
	h.Publish("s", event(21))
	if err := sub.Err(); err != nil {
		t.Fatalf("a socket not in a write, taking nothing for 19 s, was dropped: %v", err)
	}
	sub.Take(nil)
	if sub.Pending() != 0 || closed(sub.Ready()) {
		t.Fatal("Take did not take the rest")
	}
}
