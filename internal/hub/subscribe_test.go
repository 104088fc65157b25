package hub

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestResume(t *testing.T) {
	// HistorySize 5 and 8 events published: seqs 4..8 are kept, 1..3 are gone.
	all := []string{"4", "5", "6", "7", "8"}
	tests := []struct {
		name   string
		resume func(epoch string) Resume
		want   []string
	}{
		{"up to date", func(e string) Resume { return Resume{e, 8} }, nil},
		{"missed the last two", func(e string) Resume { return Resume{e, 6} }, []string{"7", "8"}},
		{"missed exactly what is kept", func(e string) Resume { return Resume{e, 3} }, all},
		{"missed more than is kept", func(e string) Resume { return Resume{e, 2} }, append([]string{"gap(2>4)"}, all...)},
		{"same epoch, nothing seen", func(e string) Resume { return Resume{e, 0} }, append([]string{"gap(0>4)"}, all...)},
		{"new client", func(string) Resume { return Resume{} }, append([]string{"gap(0>4)"}, all...)},
		{"previous process", func(string) Resume { return Resume{"0123456789abcdef", 6} }, append([]string{"gap(0>4)"}, all...)},
		{"beyond the newest seq", func(e string) Resume { return Resume{e, 20} }, append([]string{"gap(20>4)"}, all...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Config{HistorySize: 5, BufferSize: 2})
			defer h.Close()
			publish(t, h, "s", 1, 8)
			sub := subscribe(t, h, "s", tt.resume(h.Epoch()))
			backlog := nextN(t, sub, len(tt.want))
			if got := summary(backlog); !slices.Equal(got, tt.want) {
				t.Fatalf("backlog %v, want %v", got, tt.want)
			}
			expectEmpty(t, sub)
			publish(t, h, "s", 9, 10) // live frames follow the backlog
			live := nextN(t, sub, 2)
			if got := summary(live); !slices.Equal(got, []string{"9", "10"}) {
				t.Fatalf("live frames %v, want 9 10", got)
			}
			for _, f := range append(backlog, live...) {
				if f.Epoch != h.Epoch() {
					t.Fatalf("frame %s: epoch is not %q", f, h.Epoch())
				}
			}
		})
	}
}

func TestResumeAfterHistoryAged(t *testing.T) {
	c := newClock()
	h := New(Config{HistoryAge: time.Minute, Now: c.Now})
	defer h.Close()

	publish(t, h, "s", 1, 2)
	c.Advance(30 * time.Second)
	publish(t, h, "s", 3, 3)
	c.Advance(31 * time.Second) // 1 and 2 are older than a minute, 3 is not
	sub := subscribe(t, h, "s", Resume{h.Epoch(), 1})
	if got, want := summary(nextN(t, sub, 2)), []string{"gap(1>3)", "3"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	expectEmpty(t, sub)
	wantStats(t, h, Stats{Sessions: 1, Subscribers: 1, Frames: 1})

	c.Advance(time.Hour) // everything aged: the next event will be 4
	again := subscribe(t, h, "s", Resume{h.Epoch(), 2})
	if got, want := summary(nextN(t, again, 1)), []string{"gap(2>4)"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	expectEmpty(t, again)
	publish(t, h, "s", 4, 4)
	if f := next(t, again); f.Seq != 4 {
		t.Fatalf("live frame %s, want seq 4", f)
	}
}

func TestSubscribeStateGapThenBacklog(t *testing.T) {
	h := New(Config{HistorySize: 3})
	defer h.Close()
	publish(t, h, "s", 1, 5)
	h.SendState("s", []byte(`{"type":"feed_status"}`))
	sub := subscribe(t, h, "s", Resume{h.Epoch(), 1})
	if got, want := summary(nextN(t, sub, 5)), []string{"state:feed_status", "gap(1>3)", "3", "4", "5"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A backlog longer than BufferSize is delivered whole, and the subscriber
// still has BufferSize slots for live frames.
func TestBacklogLargerThanBuffer(t *testing.T) {
	h := New(Config{BufferSize: 2, HistorySize: 100})
	defer h.Close()
	publish(t, h, "s", 1, 50)
	sub := subscribe(t, h, "s", Resume{})
	publish(t, h, "s", 51, 52)
	if err := sub.Err(); err != nil {
		t.Fatalf("dropped with %v after a 50-frame backlog and 2 live frames", err)
	}
	publish(t, h, "s", 53, 53)
	expectDone(t, sub, ErrSlow)
	var got []uint64
	for len(sub.C()) > 0 {
		got = append(got, next(t, sub).Seq)
	}
	if want := seqRange(1, 52); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestResumeRacingPublishers reconnects over and over while several
// publishers race each Subscribe: every connection must continue exactly
// after the last seq seen, so the client sees 1..total once each, in order.
func TestResumeRacingPublishers(t *testing.T) {
	const publishers, perPublisher, reconnectEvery = 4, 250, 37
	const total = publishers * perPublisher
	h := New(Config{HistorySize: total, BufferSize: total})
	defer h.Close()

	start := make(chan struct{})
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			<-start
			for i := range perPublisher {
				h.Publish("s", event(p*perPublisher+i))
			}
		})
	}
	defer wg.Wait()

	var seen []uint64
	events := map[string]bool{}
	sub := subscribe(t, h, "s", Resume{Epoch: h.Epoch()})
	close(start)
	for len(seen) < total {
		f := next(t, sub)
		if f.Type != "event_updated" {
			t.Fatalf("unexpected frame %s", f)
		}
		if events[string(f.Event)] {
			t.Fatalf("event %s delivered twice", f.Event)
		}
		events[string(f.Event)] = true
		seen = append(seen, f.Seq)
		if len(seen)%reconnectEvery == 0 {
			sub.Close()
			sub = subscribe(t, h, "s", Resume{Epoch: h.Epoch(), AfterSeq: f.Seq})
		}
	}
	if !slices.Equal(seen, seqRange(1, total)) {
		t.Fatalf("seqs not 1..%d in order: %v", total, seen)
	}
	for i := range total {
		if !events[fmt.Sprintf(`{"n":%d}`, i)] {
			t.Fatalf("event %d never delivered", i)
		}
	}
}
