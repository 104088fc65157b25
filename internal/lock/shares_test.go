package lock

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// TestRefsCacheSeesChangesOfAnotherInstance: two instances' registries on one Redis. b
// answers Refs from memory for its lease (a reference added behind the registry's back is not
// seen), but a session that joins or leaves on a, and a subscription a forgets, is seen by b's
// next Refs once a's call returned: a stale memory never drops a newly joined receiver.
func TestRefsCacheSeesChangesOfAnotherInstance(t *testing.T) {
	rc := redistest.Client(t)
	keys := store.NewKeys(redistest.Prefix(t, rc))
	const lease = time.Second // long: the "still cached" check below cannot outlive it
	a := NewSharesLease(NewRedis(rc, keys, "a"), lease)
	b := NewSharesLease(NewRedis(rc, keys, "b"), lease)
	ctx := t.Context()
	sub := store.SharedSub{ID: "sub-1", Creator: "s1", Status: "active"}
	refs := func(s *Shares) string {
		t.Helper()
		got, err := s.Refs(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(slices.Sorted(slices.Values(got)))
	}

	start := time.Now()
	if err := a.Join(ctx, "k", sub, "s1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > lease/2 {
		t.Errorf("a join nobody had read waited %v", d)
	}
	if got := refs(b); got != "[s1]" {
		t.Fatalf("b's refs %s, want [s1]", got)
	}
	// Behind the registry's back: b still answers from memory (its lease lasts).
	if err := rc.SAdd(ctx, keys.Share("refs:"+sub.ID), "raw").Err(); err != nil {
		t.Fatal(err)
	}
	if got := refs(b); got != "[s1]" {
		t.Fatalf("b's refs %s right after a direct change, want [s1] from memory (no cache?)", got)
	}

	if err := a.Join(ctx, "k", sub, "s2"); err != nil {
		t.Fatal(err)
	}
	if got := refs(b); got != "[raw s1 s2]" {
		t.Fatalf("after a's join returned, b's refs %s, want [raw s1 s2]: the new receiver would miss events", got)
	}
	if got := refs(a); got != "[raw s1 s2]" {
		t.Fatalf("a's refs %s", got)
	}
	// Joining again what it references (an adopted session) changes nothing: no wait.
	start = time.Now()
	if err := a.Join(ctx, "k", sub, "s2"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > lease/2 {
		t.Errorf("a join that changed nothing waited %v for b's lease", d)
	}

	if _, err := a.Leave(ctx, sub.ID, "s1"); err != nil {
		t.Fatal(err)
	}
	if got := refs(b); got != "[raw s2]" {
		t.Fatalf("after a's leave returned, b's refs %s, want [raw s2]", got)
	}

	if err := a.Forget(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if got := refs(b); got != "[]" {
		t.Fatalf("after a's forget returned, b's refs %s, want []", got)
	}
}

// TestRefsCacheConcurrentJoins: while b reads Refs without pause, sessions join one by one on
// a; the first Refs that b starts after each join returned includes it.
func TestRefsCacheConcurrentJoins(t *testing.T) {
	rc := redistest.Client(t)
	keys := store.NewKeys(redistest.Prefix(t, rc))
	a := NewSharesLease(NewRedis(rc, keys, "a"), 50*time.Millisecond)
	b := NewSharesLease(NewRedis(rc, keys, "b"), 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sub := store.SharedSub{ID: "sub-2", Creator: "s0", Status: "active"}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { // b's callbacks
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := b.Refs(ctx, sub.ID); err != nil {
				done <- err
				return
			}
		}
	}()
	for i := range 8 {
		sid := fmt.Sprintf("s%d", i)
		if err := a.Join(ctx, "k2", sub, sid); err != nil {
			t.Fatal(err)
		}
		got, err := b.Refs(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(got, sid) {
			t.Fatalf("join %d returned, b's next refs %q lack %s", i, got, sid)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
