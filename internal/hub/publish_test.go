package hub

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSequenceNumbersPerSession(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()
	steps := []struct {
		session string
		want    uint64
	}{
		{"a", 1}, {"b", 1}, {"a", 2}, {"a", 3}, {"c", 1}, {"b", 2}, {"a", 4},
	}
	for i, st := range steps {
		if got := h.Publish(st.session, event(i)); got != st.want {
			t.Errorf("step %d: Publish(%q) = %d, want %d", i, st.session, got, st.want)
		}
	}
}

func TestEventFrameShape(t *testing.T) {
	c := newClock()
	h := newHub(Config{Now: c.Now})
	defer h.Close()
	sub := subscribe(t, h, "s", Resume{})
	at := time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.FixedZone("CET", 3600))

	h.Publish("s", Message{Type: "event_updated", Event: json.RawMessage(`{"user":"alice"}`), Time: at})
	want := `{"type":"event_updated","seq":1,"epoch":"` + h.Epoch() +
		`","time":"2026-03-04T04:06:07.5Z","event":{"user":"alice"}}`
	if got := next(t, sub).Raw; got != want {
		t.Fatalf("frame\n got %s\nwant %s", got, want)
	}

	tests := []struct {
		name      string
		msg       Message
		wantType  string
		wantEvent string
	}{
		{"zero time is the hub clock", Message{Type: "x", Event: json.RawMessage(`[1,2]`)}, "x", `[1,2]`},
		{"type is escaped", Message{Type: "a\"b\\c\n<é>", Event: json.RawMessage(`{}`)}, "a\"b\\c\n<é>", `{}`},
		{"empty event is null", Message{Type: "x"}, "x", `null`},
		{"invalid event is null", Message{Type: "x", Event: json.RawMessage(`{"broken":`)}, "x", `null`},
		{"event with whitespace is kept", Message{Type: "x", Event: json.RawMessage("{\n \"a\": 1\n}")}, "x", "{\n \"a\": 1\n}"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := h.Publish("s", tt.msg)
			f := next(t, sub)
			if f.Type != tt.wantType || f.Seq != seq || f.Seq != uint64(i+2) || f.Epoch != h.Epoch() {
				t.Errorf("frame %s: want type %q, seq %d, epoch %s", f, tt.wantType, i+2, h.Epoch())
			}
			if string(f.Event) != tt.wantEvent {
				t.Errorf("event = %s, want %s", f.Event, tt.wantEvent)
			}
			if !tt.msg.Time.IsZero() || !f.Time.Equal(c.Now()) {
				t.Errorf("time = %v, want the hub clock %v", f.Time, c.Now())
			}
		})
	}
}

func TestEpoch(t *testing.T) {
	a, b := newHub(Config{}), newHub(Config{})
	defer a.Close()
	defer b.Close()
	if _, err := hex.DecodeString(a.Epoch()); err != nil || len(a.Epoch()) != 2*epochBytes {
		t.Errorf("Epoch() = %q, want %d hex characters", a.Epoch(), 2*epochBytes)
	}
	if a.Epoch() == b.Epoch() {
		t.Errorf("two hubs share the epoch %q", a.Epoch())
	}
}

func TestSessionsAreIsolated(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()
	subA := subscribe(t, h, "a", Resume{})
	subB := subscribe(t, h, "b", Resume{})

	publish(t, h, "a", 1, 3)
	expectEmpty(t, subB)
	if got := summary(nextN(t, subA, 3)); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("session a got %v, want 1 2 3", got)
	}
	h.SendState("a", []byte(`{"type":"feed_status"}`))
	expectEmpty(t, subB)
	if f := next(t, subA); f.Type != "feed_status" {
		t.Fatalf("session a got %s, want its state", f)
	}
	publish(t, h, "b", 1, 1)
	expectEmpty(t, subA)
	if f := next(t, subB); f.Seq != 1 || string(f.Event) != `{"n":1}` {
		t.Fatalf("session b got %s", f)
	}
}

func TestEverySubscriberGetsEveryEvent(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()
	subs := []*Subscriber{subscribe(t, h, "s", Resume{}), subscribe(t, h, "s", Resume{}), subscribe(t, h, "s", Resume{})}
	publish(t, h, "s", 1, 20)
	var first [][]byte
	for i, sub := range subs {
		var frames [][]byte
		for range 20 {
			f, ok := recv(sub, 0)
			if !ok {
				t.Fatalf("subscriber %d got %d frames, want 20", i, len(frames))
			}
			frames = append(frames, f.Data)
		}
		expectEmpty(t, sub)
		if i == 0 {
			first = frames
			continue
		}
		for j := range frames {
			if string(frames[j]) != string(first[j]) {
				t.Fatalf("subscriber %d frame %d = %s, subscriber 0 got %s", i, j, frames[j], first[j])
			}
			if &frames[j][0] != &first[j][0] {
				t.Errorf("frame %d was encoded more than once", j)
			}
		}
	}
}

func TestSlowSubscriberIsDroppedAndLosesNothing(t *testing.T) {
	h := newHub(Config{BufferSize: 4})
	defer h.Close()
	fast := subscribe(t, h, "s", Resume{})
	slow := subscribe(t, h, "s", Resume{})

	publish(t, h, "s", 1, 4) // fills slow's buffer
	nextN(t, fast, 4)
	if err := slow.Err(); err != nil {
		t.Fatalf("after filling its buffer: Err() = %v, want nil", err)
	}
	for seq := uint64(5); seq <= 10; seq++ { // 5 doesn't fit: slow is dropped, Publish doesn't wait
		publish(t, h, "s", seq, seq)
		if f := next(t, fast); f.Seq != seq {
			t.Fatalf("fast subscriber got %s, want seq %d", f, seq)
		}
	}
	expectDone(t, slow, ErrSlow)
	wantStats(t, h, Stats{Sessions: 1, Subscribers: 1, Frames: 10, Slow: 1})

	// The slow client reads what was buffered before it was dropped (the
	// socket's writer would flush it), then reconnects from its last seq.
	var seen []uint64
	for waiting(slow) > 0 {
		seen = append(seen, next(t, slow).Seq)
	}
	again := subscribe(t, h, "s", Resume{Epoch: h.Epoch(), AfterSeq: seen[len(seen)-1]})
	for waiting(again) > 0 {
		seen = append(seen, next(t, again).Seq)
	}
	if want := seqRange(1, 10); !slices.Equal(seen, want) {
		t.Fatalf("slow client saw %v, want %v", seen, want)
	}
}

// TestThousandEventsInOrder publishes to a reader that runs concurrently with
// a small buffer: whenever it is dropped as slow it reconnects from its last
// seq, as the browser does, and still sees every event once, in order.
func TestThousandEventsInOrder(t *testing.T) {
	const n = 1000
	h := newHub(Config{HistorySize: n, BufferSize: 8})
	defer h.Close()
	sub := subscribe(t, h, "s", Resume{Epoch: h.Epoch()})

	got := make(chan []uint64)
	go func() {
		var seen []uint64
		defer func() { got <- seen }()
		for len(seen) < n {
			select {
			case <-sub.Ready():
				for _, f := range sub.Take(nil) {
					seen = append(seen, decode(t, f.Data).Seq)
				}
			case <-sub.Done():
				for _, f := range sub.Take(nil) {
					seen = append(seen, decode(t, f.Data).Seq)
				}
				if !errors.Is(sub.Err(), ErrSlow) {
					t.Errorf("dropped with %v", sub.Err())
					return
				}
				var err error
				if sub, err = h.Subscribe("s", Resume{Epoch: h.Epoch(), AfterSeq: seen[len(seen)-1]}); err != nil {
					t.Errorf("resubscribe: %v", err)
					return
				}
				defer sub.Close()
			case <-time.After(wait):
				t.Errorf("stalled after %d events", len(seen))
				return
			}
		}
	}()
	for i := 1; i <= n; i++ {
		h.Publish("s", event(i))
	}
	if seen := <-got; !slices.Equal(seen, seqRange(1, n)) {
		t.Fatalf("got %d events, not 1..%d in order: %v", len(seen), n, seen)
	}
	t.Logf("reconnects after slow drops: %d", h.Stats().Slow)
}

func TestSendState(t *testing.T) {
	h := newHub(Config{BufferSize: 2})
	defer h.Close()
	early := subscribe(t, h, "s", Resume{})
	publish(t, h, "s", 1, 2)
	nextN(t, early, 2)

	h.SendState("s", []byte(`{"type":"feed_status","v":1}`))
	h.SendState("s", []byte(`{"type":"feed_status","v":2}`))
	if a, b := next(t, early).Raw, next(t, early).Raw; a != `{"type":"feed_status","v":1}` || b != `{"type":"feed_status","v":2}` {
		t.Fatalf("current subscriber got %s, %s", a, b)
	}

	late := subscribe(t, h, "s", Resume{Epoch: h.Epoch(), AfterSeq: 1})
	got := nextN(t, late, 2)
	if got[0].Raw != `{"type":"feed_status","v":2}` || got[1].Seq != 2 {
		t.Fatalf("new subscriber got %v, want the latest state then seq 2", got)
	}
	expectEmpty(t, late)

	h.SendState("s", nil) // clears without sending
	expectEmpty(t, late)
	if cleared := subscribe(t, h, "s", Resume{Epoch: h.Epoch(), AfterSeq: 2}); waiting(cleared) != 0 {
		t.Fatalf("subscriber after clearing got %d frames, want none", waiting(cleared))
	}

	h.SendState("s", []byte(`{"type":"feed_status","v":3}`))
	h.SendState("s", []byte(`{"type":"feed_status","v":3}`)) // the same state again: not resent
	if got := next(t, late).Raw; got != `{"type":"feed_status","v":3}` {
		t.Fatalf("subscriber got %s, want v 3", got)
	}
	expectEmpty(t, late)

	for i := range 3 { // early has room for 2 (v 3 is already in it)
		h.SendState("s", fmt.Appendf(nil, `{"type":"feed_status","v":%d}`, 4+i))
	}
	expectDone(t, early, ErrSlow)
}

// A subscriber is dropped only when its browser really stalls: a burst far beyond any small
// buffer waits for it however long its writer takes nothing, as long as the writer is not
// blocked in a write (a CPU-starved server: the writer is not scheduled yet); a subscriber
// whose writer has been blocked in one write for longer than StallTimeout (the browser is not
// reading), or that is more than MaxPendingBytes behind, is dropped (and resumes from the
// history, losing nothing).
func TestStallRule(t *testing.T) {
	c := newClock()
	h := newHub(Config{HistorySize: 20000, StallTimeout: 10 * time.Second, MaxPendingBytes: 4 << 20, Now: c.Now})
	defer h.Close()
	reader := subscribe(t, h, "s", Resume{})
	publish(t, h, "s", 1, 5000) // a burst: 5,000 frames before the socket writer runs once
	c.Advance(30 * time.Second) // the writer starved of CPU for three stall timeouts
	publish(t, h, "s", 5001, 5001)
	if err := reader.Err(); err != nil {
		t.Fatalf("a 5,000-frame burst whose writer was not scheduled for 30 s dropped the socket: %v", err)
	}
	if got := len(reader.Take(nil)); got != 5001 {
		t.Fatalf("took %d frames, want 5001", got)
	}

	stalled := subscribe(t, h, "s", Resume{Epoch: h.Epoch(), AfterSeq: 5001})
	publish(t, h, "s", 5002, 5002)
	stalled.Take(nil)
	stalled.BeginWrite() // its browser stops reading: the write blocks
	reader.Take(nil)
	reader.BeginWrite() // the reader writes too, and returns in time
	c.Advance(5 * time.Second)
	reader.EndWrite()
	c.Advance(5 * time.Second)
	publish(t, h, "s", 5003, 5003) // stalled's write has lasted the timeout, not longer
	if err := stalled.Err(); err != nil {
		t.Fatalf("a write blocked for exactly the stall timeout dropped the socket: %v", err)
	}
	c.Advance(time.Millisecond)
	publish(t, h, "s", 5004, 5004)
	expectDone(t, stalled, ErrSlow)
	if err := reader.Err(); err != nil {
		t.Fatalf("the reader was dropped too: %v", err)
	}

	// Stall is the writer's own timer saying the same without a publish.
	quiet := subscribe(t, h, "q", Resume{})
	quiet.Stall()
	expectDone(t, quiet, ErrSlow)
	quiet.Stall() // a no-op once dropped
	if got := h.Stats().Slow; got != 2 {
		t.Fatalf("Stats.Slow = %d, want 2", got)
	}

	big := newHub(Config{HistorySize: 100, MaxPendingBytes: 2000, Now: c.Now})
	defer big.Close()
	behind := subscribe(t, big, "s", Resume{})
	for i := uint64(1); behind.Err() == nil && i < 100; i++ {
		publish(t, big, "s", i, i)
	}
	expectDone(t, behind, ErrSlow)
	if n := behind.Pending(); n == 0 || n > 2000/len(`{"type":"event_updated"}`) {
		t.Fatalf("%d frames waited when the byte bound dropped it", n)
	}
}
