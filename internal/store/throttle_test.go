package store

import (
	"context"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// The shared streamer-change buckets: limit tokens per key, a take of several keys all or
// nothing, the wait until a token is back, and each bucket's key expiring within its window.
func TestRedisThrottle(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	ctx := context.Background()
	th := NewRedisThrottle(c, NewKeys(prefix), 2, time.Minute)
	for i := range 2 {
		if ok, _, err := th.Take(ctx, "sid:a", "user:u"); !ok || err != nil {
			t.Fatalf("take %d = %v, %v; want the budget of 2", i+1, ok, err)
		}
	}
	ok, retry, err := th.Take(ctx, "sid:a", "user:u")
	if ok || err != nil || retry <= 0 || retry > 30*time.Second {
		t.Fatalf("third take = %v, retry %v, %v; want refused, with a token back within 30 s (2 a minute)", ok, retry, err)
	}
	// All or nothing: user u has no token, so session b's is not spent either.
	if ok, _, _ := th.Take(ctx, "sid:b", "user:u"); ok {
		t.Fatal("a take with an empty user bucket was granted")
	}
	for i := range 2 {
		if ok, _, err := th.Take(ctx, "sid:b", "user:v"); !ok || err != nil {
			t.Fatalf("session b take %d = %v, %v: the refused take spent its token", i+1, ok, err)
		}
	}
	ttl, err := c.PTTL(ctx, prefix+"throttle:user:u").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL of a bucket = %v, %v; want 0 < ttl ≤ the window", ttl, err)
	}
}

// A bucket refills over its window, on Redis's clock.
func TestRedisThrottleRefills(t *testing.T) {
	c := redistest.Client(t)
	th := NewRedisThrottle(c, NewKeys(redistest.Prefix(t, c)), 1, 300*time.Millisecond)
	ctx := context.Background()
	if ok, _, err := th.Take(ctx, "k"); !ok || err != nil {
		t.Fatalf("first take = %v, %v", ok, err)
	}
	start := time.Now()
	ok, retry, err := th.Take(ctx, "k")
	if ok || err != nil || retry <= 0 || retry > 300*time.Millisecond {
		t.Fatalf("second take = %v, retry %v, %v; want refused for at most the 300 ms window", ok, retry, err)
	}
	for deadline := start.Add(3 * time.Second); ; {
		if ok, _, err = th.Take(ctx, "k"); ok || err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bucket did not refill within 3 s of a 300 ms window")
		}
		time.Sleep(10 * time.Millisecond) // polling Redis's clock, bounded by the deadline
	}
	if err != nil || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("refilled after %v (%v); want about the 300 ms window", time.Since(start), err)
	}
}

// Redis down: the take is an error and refused, never granted.
func TestRedisThrottleDownRefuses(t *testing.T) {
	th := NewRedisThrottle(redistest.Down(t), NewKeys(""), 6, time.Minute)
	if ok, _, err := th.Take(context.Background(), "sid:a"); ok || err == nil {
		t.Fatalf("take with Redis down = %v, %v; want refused with an error", ok, err)
	}
}
