package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/balancer"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// TestConcurrentAppendsOnceAndInOrder: 64 concurrent callers on A (their appends share
// script calls) append to 3 sessions whose sockets are on B; 8 of them deliver one message
// id at once, as a Twitch retry racing the original would. Every socket gets its session's
// events exactly once, numbered 1..N without a gap, each with the number its Publish
// returned, and the shared message id once.
func TestConcurrentAppendsOnceAndInOrder(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	b := newInstance(t, "", prefix, 200*time.Millisecond)
	const callers, each, sessions = 64, 10, 3
	subs := make([]*hub.Subscriber, sessions)
	for i := range subs {
		subs[i] = b.subscribe(t, fmt.Sprintf("s%d", i), hub.Resume{})
	}
	var (
		mu      sync.Mutex
		seqOf   = map[int]uint64{} // event n -> the seq its Publish returned
		dupSeqs = map[uint64]int{}
		wg      sync.WaitGroup
	)
	for g := range callers {
		wg.Go(func() {
			for k := range each {
				n := g*each + k + 1
				m := msg(n)
				m.ID = fmt.Sprintf("s%d:msg-%d", n%sessions, n)
				seqs, err := a.broker.Publish([]string{fmt.Sprintf("s%d", n%sessions)}, m, m.Event)
				if err != nil || len(seqs) != 1 {
					t.Errorf("event %d: seqs %v, err %v", n, seqs, err)
					return
				}
				mu.Lock()
				seqOf[n] = seqs[0]
				mu.Unlock()
			}
			if g < 8 {
				m := msg(0)
				m.ID = "s0:the-retried-one"
				seqs, err := a.broker.Publish([]string{"s0"}, m, m.Event)
				if err != nil || len(seqs) != 1 {
					t.Errorf("retried event: seqs %v, err %v", seqs, err)
					return
				}
				mu.Lock()
				dupSeqs[seqs[0]]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(dupSeqs) != 1 {
		t.Fatalf("one message id appended at seqs %v, want one seq", dupSeqs)
	}
	for i, sub := range subs {
		var total int
		for n := 1; n <= callers*each; n++ {
			if n%sessions == i {
				total++
			}
		}
		if i == 0 {
			total++ // the retried one, once
		}
		var pending []hub.Frame
		seen := map[int]bool{}
		for seq := uint64(1); seq <= uint64(total); seq++ {
			f := next(t, sub, &pending)
			if f.Type == "history_gap" || f.Seq != seq {
				t.Fatalf("s%d: frame %+v, want seq %d", i, f, seq)
			}
			n := eventN(t, f)
			if seen[n] {
				t.Fatalf("s%d: event %d twice", i, n)
			}
			seen[n] = true
			if n == 0 {
				if dupSeqs[seq] == 0 {
					t.Fatalf("s%d: the retried event at seq %d, Publish said %v", i, seq, dupSeqs)
				}
			} else if seqOf[n] != seq {
				t.Fatalf("s%d: event %d at seq %d, Publish said %d", i, n, seq, seqOf[n])
			}
		}
		select {
		case <-sub.Ready():
			if more := sub.Take(pending); len(more) > 0 {
				t.Fatalf("s%d: %d frames beyond the %d appended", i, len(more), total)
			}
		default:
		}
	}
}

// TestRedisFailsMidBatch: Redis goes away (its connections cut, then refused) while 64
// callers append. Every append that returned no error is in the stream, once, at the number
// it returned; the ones after the cut return errors (so their callbacks answer 503 and
// Twitch retries) and none waits past the bound.
func TestRedisFailsMidBatch(t *testing.T) {
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	bal, err := balancer.New(opt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bal.Close()
	a := newInstance(t, bal.Addr(), prefix, 200*time.Millisecond)
	a.broker.cfg.HistorySize = 1 << 20 // keep every entry to look at (before any append)
	const callers, most = 64, 200
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		stored     = map[int]uint64{}
		cut        = make(chan struct{})
		cutOnce    sync.Once
		wg         sync.WaitGroup
	)
	for g := range callers {
		wg.Go(func() {
			for k := range most {
				n := g*most + k + 1
				m := msg(n)
				m.ID = fmt.Sprintf("s1:msg-%d", n)
				start := time.Now()
				seqs, err := a.broker.Publish([]string{"s1"}, m, m.Event)
				if d := time.Since(start); d > 2*publishTimeout+time.Second {
					t.Errorf("an append took %s", d)
				}
				if err != nil {
					failed.Add(1)
					return
				}
				mu.Lock()
				stored[n] = seqs[0]
				mu.Unlock()
				if ok.Add(1) == 300 {
					cutOnce.Do(func() { close(cut) })
				}
			}
		})
	}
	select {
	case <-cut:
	case <-time.After(waitBound):
		t.Fatal("300 appends never succeeded")
	}
	bal.Close() // refuse new connections, cut the open ones
	bal.DropAll()
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatal("no append failed with Redis gone")
	}
	entries, err := rc.XRange(context.Background(), store.NewKeys(prefix).Broker().Log("s1"), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	inStream := map[int]uint64{}
	for _, e := range entries {
		ev, err := entryEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(ev.Event), `{"n":`), "%d", &n); err != nil {
			t.Fatalf("entry %s: %v", ev.Event, err)
		}
		if _, twice := inStream[n]; twice {
			t.Fatalf("event %d stored twice", n)
		}
		inStream[n] = ev.Seq
	}
	for n, seq := range stored {
		if got, ok := inStream[n]; !ok || got != seq {
			t.Fatalf("accepted event %d (seq %d) is in the stream at %d (%v)", n, seq, got, ok)
		}
	}
	t.Logf("%d appended, %d refused, %d in the stream", ok.Load(), failed.Load(), len(inStream))
}
