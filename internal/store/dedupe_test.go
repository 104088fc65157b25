package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// dedupe is the webhook package's Deduper contract.
type dedupe interface {
	Seen(ctx context.Context, id string) (bool, error)
	Forget(ctx context.Context, id string) error
}

// testDedupe checks the contract on any implementation.
func testDedupe(t *testing.T, d dedupe, expire func()) {
	ctx := context.Background()
	seen, err := d.Seen(ctx, "a")
	if err != nil || seen {
		t.Fatalf("first Seen(a) = %v, %v; want false, nil", seen, err)
	}
	if seen, err = d.Seen(ctx, "a"); err != nil || !seen {
		t.Fatalf("second Seen(a) = %v, %v; want true, nil", seen, err)
	}
	if seen, _ = d.Seen(ctx, "b"); seen {
		t.Fatal("Seen(b) = true for a new id")
	}
	if err := d.Forget(ctx, "a"); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if seen, _ = d.Seen(ctx, "a"); seen {
		t.Fatal("Seen(a) after Forget = true, want false")
	}
	// Of many concurrent marks of one id exactly one is first.
	var first atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if s, err := d.Seen(ctx, "race"); err == nil && !s {
				first.Add(1)
			}
		})
	}
	wg.Wait()
	if n := first.Load(); n != 1 {
		t.Fatalf("%d concurrent callers saw the id as new, want exactly 1", n)
	}
	if expire != nil {
		expire()
		if seen, _ = d.Seen(ctx, "b"); seen {
			t.Fatal("Seen(b) after the TTL = true, want false")
		}
	}
}

func TestMemoryDedupe(t *testing.T) {
	c := fakeclock.New(testNow)
	d := NewMemoryDedupe(MemoryDedupeConfig{TTL: time.Minute, Now: c.Now})
	testDedupe(t, d, func() { c.Advance(time.Minute + time.Nanosecond) })
}

// At capacity the oldest mark is evicted: the store never refuses, stays within its bound,
// and still knows the newest ids.
func TestMemoryDedupeBounded(t *testing.T) {
	ctx := context.Background()
	c := fakeclock.New(testNow)
	const bound = memoryShards * 4
	d := NewMemoryDedupe(MemoryDedupeConfig{TTL: time.Minute, MaxEntries: bound, Now: c.Now})
	for i := range bound * 50 {
		if seen, err := d.Seen(ctx, fmt.Sprint("id-", i)); err != nil || seen {
			t.Fatalf("Seen(id-%d) = %v, %v; want a new id, no error", i, seen, err)
		}
		c.Advance(time.Millisecond)
		if n := d.Len(); n > bound {
			t.Fatalf("Len = %d after %d ids, above the bound %d", n, i+1, bound)
		}
	}
	if d.Evicted() == 0 {
		t.Fatal("nothing was evicted at capacity")
	}
	// The newest ids are remembered (each shard keeps its newest marks).
	if seen, _ := d.Seen(ctx, fmt.Sprint("id-", bound*50-1)); !seen {
		t.Fatal("the newest id was forgotten")
	}
	// Forgotten and re-marked ids, then expiry: everything goes, nothing stale stays.
	_ = d.Forget(ctx, fmt.Sprint("id-", bound*50-2))
	if seen, _ := d.Seen(ctx, fmt.Sprint("id-", bound*50-2)); seen {
		t.Fatal("a forgotten id is still marked")
	}
	c.Advance(2 * time.Minute)
	for i := bound*50 - 8; i < bound*50; i++ { // expired: new again, and each shard drops its dead marks
		if seen, _ := d.Seen(ctx, fmt.Sprint("id-", i)); seen {
			t.Fatalf("id-%d is still marked after its TTL", i)
		}
	}
	if n := d.Len(); n > bound {
		t.Fatalf("Len = %d, above the bound", n)
	}
}

// BenchmarkMemoryDedupe marks a stream of distinct ids through a full store (the default
// bound, 2^20), as a process that gets millions of notifications within the TTL would, and
// reports the heap held per remembered id:
//
//	go test -run '^$' -bench MemoryDedupe -benchtime 4000000x ./internal/store
func BenchmarkMemoryDedupe(b *testing.B) {
	ctx := context.Background()
	d := NewMemoryDedupe(MemoryDedupeConfig{TTL: 20 * time.Minute})
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-e102-16be-a3eb-%012x", i, i)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		id := ids[i%len(ids)]
		if i >= len(ids) {
			id = fmt.Sprintf("%08x-e102-16be-a3eb-%012x", i, i) // distinct, Twitch-shaped
		}
		if _, err := d.Seen(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := d.Len(); n > DefaultMemoryDedupeEntries {
		b.Fatalf("Len = %d, above the bound", n)
	}
	b.ReportMetric(float64(d.Len()), "ids_held")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(d.Len()), "heap_B/id")
}

func TestRedisDedupe(t *testing.T) {
	c := redistest.Client(t)
	prefix := fmt.Sprintf("twitchrelay:test:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	d := NewRedisDedupe(c, NewKeys(prefix), 2*time.Second)
	testDedupe(t, d, nil)
	ttl, err := c.PTTL(context.Background(), prefix+"dedupe:b").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL of a mark = %v, %v; want 0 < ttl ≤ 2s", ttl, err)
	}
}

// Redis down: a client on a closed port. The verifier fails closed with ErrDedupe (503).
func TestRedisDedupeDownFailsClosed(t *testing.T) {
	c := redistest.Down(t)
	d := NewRedisDedupe(c, NewKeys(""), time.Minute)
	if _, err := d.Seen(context.Background(), "x"); err == nil {
		t.Fatal("Seen with Redis down returned nil error")
	}
}

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
