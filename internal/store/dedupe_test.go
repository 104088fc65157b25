package store

import (
	"context"
	"errors"
	"fmt"
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

func TestMemoryDedupeBounded(t *testing.T) {
	ctx := context.Background()
	c := fakeclock.New(testNow)
	d := NewMemoryDedupe(MemoryDedupeConfig{TTL: time.Minute, MaxEntries: memoryShards * 4, Now: c.Now})
	var full error
	for i := 0; i < memoryShards*8 && full == nil; i++ {
		_, full = d.Seen(ctx, fmt.Sprint("id-", i))
	}
	if !errors.Is(full, ErrDedupeFull) {
		t.Fatalf("filling the store: err = %v, want ErrDedupeFull", full)
	}
	if n := d.Len(); n > memoryShards*4 {
		t.Fatalf("Len = %d, above the bound %d", n, memoryShards*4)
	}
	// Once the marks expire, the sweep frees room.
	c.Advance(2 * time.Minute)
	for i := range memoryShards * 4 {
		if _, err := d.Seen(ctx, fmt.Sprint("new-", i)); err != nil && !errors.Is(err, ErrDedupeFull) {
			t.Fatalf("Seen: %v", err)
		}
	}
	if _, err := d.Seen(ctx, "after-expiry"); err != nil && !errors.Is(err, ErrDedupeFull) {
		t.Fatalf("after expiry: %v", err)
	}
	if n := d.Len(); n > memoryShards*4 {
		t.Fatalf("Len = %d after sweep, above the bound", n)
	}
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
