package hub

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSubscriberClose(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()
	a := subscribe(t, h, "s", Resume{})
	b := subscribe(t, h, "s", Resume{})
	c := subscribe(t, h, "s", Resume{})
	if a.Err() != nil {
		t.Fatalf("Err() = %v before Close, want nil", a.Err())
	}
	a.Close()
	a.Close() // idempotent
	expectDone(t, a, ErrUnsubscribed)
	wantStats(t, h, Stats{Sessions: 1, Subscribers: 2})

	publish(t, h, "s", 1, 1)
	expectEmpty(t, a)
	for _, sub := range []*Subscriber{b, c} {
		if f := next(t, sub); f.Seq != 1 {
			t.Fatalf("remaining subscriber got %s", f)
		}
	}
}

func TestRelease(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()
	tab1 := subscribe(t, h, "a", Resume{})
	tab2 := subscribe(t, h, "a", Resume{})
	other := subscribe(t, h, "b", Resume{})
	publish(t, h, "a", 1, 3)
	publish(t, h, "b", 1, 2)
	h.SendState("a", []byte(`{"type":"feed_status"}`))
	wantStats(t, h, Stats{Sessions: 2, Subscribers: 3, Frames: 5})

	h.Release("a")
	h.Release("a")       // idempotent
	h.Release("unknown") // harmless
	expectDone(t, tab1, ErrReleased)
	expectDone(t, tab2, ErrReleased)
	if other.Err() != nil {
		t.Fatalf("subscriber of another session dropped: %v", other.Err())
	}
	wantStats(t, h, Stats{Sessions: 1, Subscribers: 1, Frames: 2})

	// The id may come back: a new session, new seqs, no old state, and a
	// client resuming from the old session is told it may have missed events.
	back := subscribe(t, h, "a", Resume{Epoch: h.Epoch(), AfterSeq: 3})
	if got, want := summary(nextN(t, back, 1)), []string{"gap(3>1)"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	expectEmpty(t, back)
	if seq := h.Publish("a", event(1)); seq != 1 {
		t.Fatalf("first Publish after Release = seq %d, want 1", seq)
	}
}

func TestSweep(t *testing.T) {
	c := newClock()
	h := newHub(Config{HistoryAge: time.Minute, StallTimeout: 2 * time.Hour, Now: c.Now}) // watched reads only at the end
	defer h.Close()

	publish(t, h, "history-only", 1, 2)
	publish(t, h, "watched", 1, 2)
	watched := subscribe(t, h, "watched", Resume{})
	subscribe(t, h, "left", Resume{}).Close()
	h.SendState("state-only", []byte(`{"type":"feed_status"}`))
	wantStats(t, h, Stats{Sessions: 4, Subscribers: 1, Frames: 4})

	c.Advance(30 * time.Second)
	if n := h.Sweep(c.Now()); n != 0 {
		t.Fatalf("Sweep removed %d sessions active 30s ago, want 0", n)
	}
	publish(t, h, "history-only", 3, 3) // keeps it for another minute
	c.Advance(31 * time.Second)
	if n := h.Sweep(c.Now()); n != 2 {
		t.Fatalf("Sweep removed %d sessions, want 2 (left, state-only)", n)
	}
	// history-only keeps seq 3; watched keeps its subscriber, its history aged out.
	wantStats(t, h, Stats{Sessions: 2, Subscribers: 1, Frames: 1})

	c.Advance(time.Hour)
	if n := h.Sweep(c.Now()); n != 1 {
		t.Fatalf("Sweep removed %d sessions, want 1 (history-only)", n)
	}
	wantStats(t, h, Stats{Sessions: 1, Subscribers: 1})
	if watched.Err() != nil {
		t.Fatalf("Sweep dropped a subscriber: %v", watched.Err())
	}
	publish(t, h, "watched", 3, 3)
	nextN(t, watched, 3)
}

func TestRunSweepsUntilStopped(t *testing.T) {
	c := newClock()
	h := newHub(Config{HistoryAge: time.Minute, SweepInterval: time.Millisecond, Now: c.Now})
	publish(t, h, "s", 1, 1)
	c.Advance(2 * time.Minute)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- h.Run(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for h.Stats().Sessions != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("Run did not sweep the idle session within %v", wait)
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v after cancel, want context.Canceled", err)
	}

	go func() { errc <- h.Run(t.Context()) }()
	h.Close()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v after Close, want nil", err)
	}
}

func TestClose(t *testing.T) {
	h := newHub(Config{})
	subs := []*Subscriber{subscribe(t, h, "a", Resume{}), subscribe(t, h, "a", Resume{}), subscribe(t, h, "b", Resume{})}
	publish(t, h, "a", 1, 2)
	h.SendState("c", []byte(`{}`))

	h.Close()
	h.Close() // idempotent
	for _, sub := range subs {
		expectDone(t, sub, ErrGoingAway)
		sub.Close()
		expectDone(t, sub, ErrGoingAway)
	}
	wantStats(t, h, Stats{})
	if sub, err := h.Subscribe("a", Resume{}); !errors.Is(err, ErrClosed) || sub != nil {
		t.Fatalf("Subscribe after Close = %v, %v; want nil, ErrClosed", sub, err)
	}
	if seq := h.Publish("a", event(3)); seq != 0 {
		t.Fatalf("Publish after Close = %d, want 0", seq)
	}
	h.SendState("a", []byte(`{}`))
	h.Release("a")
	if n := h.Sweep(time.Now().Add(time.Hour)); n != 0 {
		t.Fatalf("Sweep after Close removed %d sessions", n)
	}
	wantStats(t, h, Stats{})
}
