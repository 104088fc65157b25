package lock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestExclusiveAndFenced(t *testing.T) {
	rc := redistest.Client(t)
	keys := store.NewKeys(redistest.Prefix(t, rc))
	a, b := NewRedis(rc, keys, "a"), NewRedis(rc, keys, "b")
	ctx := t.Context()

	la, ok, err := a.TryAcquire(ctx, "job", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first acquire: ok=%v err=%v", ok, err)
	}
	if _, ok, err := b.TryAcquire(ctx, "job", time.Minute); err != nil || ok {
		t.Fatalf("second owner admitted: ok=%v err=%v", ok, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, ok, err := b.TryAcquire(ctx, "job", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire after release: ok=%v err=%v", ok, err)
	}
	if lb.Fence() <= la.Fence() {
		t.Fatalf("fence %d after %d: a new owner must get a larger one", lb.Fence(), la.Fence())
	}
}

// TestLapsedOwnerCannotTouchSuccessor: an owner whose lease lapsed (here: its key is gone as
// if expired) and that another took over can neither renew nor release the new lease.
func TestLapsedOwnerCannotTouchSuccessor(t *testing.T) {
	rc := redistest.Client(t)
	keys := store.NewKeys(redistest.Prefix(t, rc))
	a, b := NewRedis(rc, keys, "a"), NewRedis(rc, keys, "b")
	ctx := t.Context()
	la, _, err := a.TryAcquire(ctx, "job", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rc.Del(ctx, keys.Lock("job")) // the lease lapsed
	lb, ok, err := b.TryAcquire(ctx, "job", time.Minute)
	if err != nil || !ok {
		t.Fatalf("takeover: ok=%v err=%v", ok, err)
	}
	if err := la.Renew(ctx, time.Minute); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("lapsed owner's renew: %v, want ErrNotHeld", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lb.Renew(ctx, time.Minute); err != nil {
		t.Fatalf("the lapsed owner's release removed its successor's lock: %v", err)
	}
}

// TestSingletonTakesOverFromADeadOwner: two instances run the same singleton; only one runs
// the work at a time, and when the owner dies (its Redis connection gone: it can neither
// renew nor release) the other takes over within the lease.
func TestSingletonTakesOverFromADeadOwner(t *testing.T) {
	url := redistest.URL(t)
	rc := redistest.Client(t)
	keys := store.NewKeys(redistest.Prefix(t, rc))
	const ttl = 600 * time.Millisecond

	var running atomic.Int32
	started := make(chan string, 16)
	work := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			if n := running.Add(1); n != 1 {
				t.Errorf("%d owners at once", n)
			}
			started <- name
			<-ctx.Done()
			running.Add(-1)
		}
	}
	opt, _ := redis.ParseURL(url)
	opt.MaxRetries = -1
	ca := redis.NewClient(opt)
	defer ca.Close()

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { Singleton(ctx, NewRedis(ca, keys, "a"), "job", ttl, nil, work("a")) })
	first := waitStart(t, started)
	wg.Go(func() { Singleton(ctx, NewRedis(rc, keys, "b"), "job", ttl, nil, work("b")) })
	if first != "a" {
		t.Fatalf("first owner %q, want a", first)
	}
	died := time.Now()
	ca.Close() // a dies: no renewal, no release
	if got := waitStart(t, started); got != "b" {
		t.Fatalf("took over: %q, want b", got)
	}
	t.Logf("taken over %s after the owner died (lease %s)", time.Since(died).Round(time.Millisecond), ttl)
	cancel()
	wg.Wait()
}

func waitStart(t *testing.T, started <-chan string) string {
	t.Helper()
	select {
	case s := <-started:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("no owner started within the bound")
		return ""
	}
}
