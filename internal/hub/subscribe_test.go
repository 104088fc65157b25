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
			h := newHub(Config{HistorySize: 5, BufferSize: 2})
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
	h := newHub(Config{HistoryAge: time.Minute, Now: c.Now})
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
	h := newHub(Config{HistorySize: 3})
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
	h := newHub(Config{BufferSize: 2, HistorySize: 100})
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
	for waiting(sub) > 0 {
		got = append(got, next(t, sub).Seq)
	}
	if want := seqRange(1, 52); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestResumeRacingPublishers reconnects again and again, each time while
// several publishers are publishing: every connection must continue exactly
// after the last seq seen, so the client sees every event once, in order.
func TestResumeRacingPublishers(t *testing.T) {
	const rounds, publishers, perRound = 50, 4, 20
	const total = rounds * publishers * perRound
	h := newHub(Config{HistorySize: total, BufferSize: total})
	defer h.Close()

	var seen []uint64
	events := map[string]bool{}
	read := func(sub *Subscriber) {
		f := next(t, sub)
		if f.Type != "event_updated" {
			t.Fatalf("unexpected frame %s", f)
		}
		if events[string(f.Event)] {
			t.Fatalf("event %s delivered twice", f.Event)
		}
		if want := uint64(len(seen)) + 1; f.Seq != want {
			t.Fatalf("seq %d after %d: a gap or a duplicate", f.Seq, want-1)
		}
		events[string(f.Event)] = true
		seen = append(seen, f.Seq)
	}

	sub := subscribe(t, h, "s", Resume{Epoch: h.Epoch()})
	for r := range rounds {
		// Leave with a few frames unread, then reconnect while publishers run.
		for range waiting(sub) / 2 {
			read(sub)
		}
		sub.Close()
		resume := Resume{Epoch: h.Epoch()}
		if len(seen) > 0 {
			resume.AfterSeq = seen[len(seen)-1]
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				<-start
				for i := range perRound {
					h.Publish("s", event((r*publishers+p)*perRound+i))
				}
			})
		}
		close(start)
		sub = subscribe(t, h, "s", resume)
		wg.Wait()
		for uint64(len(seen)) < uint64((r+1)*publishers*perRound) {
			read(sub)
		}
	}
	expectEmpty(t, sub)
	if !slices.Equal(seen, seqRange(1, total)) {
		t.Fatalf("seqs not 1..%d in order: %v", total, seen)
	}
	for i := range total {
		if !events[fmt.Sprintf(`{"n":%d}`, i)] {
			t.Fatalf("event %d never delivered", i)
		}
	}
}
