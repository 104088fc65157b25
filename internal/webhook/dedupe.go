package webhook

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// Deduper remembers accepted message ids so that a message Twitch delivers again is handled
// once. Implementations must be safe for concurrent use.
type Deduper interface {
	// Seen marks id and reports whether it was already marked, atomically: of two concurrent
	// calls with the same id exactly one returns false. Marks expire after the store's TTL
	// (2 × the Verifier's window). An error means nothing is known: fail closed.
	Seen(ctx context.Context, id string) (bool, error)
	// Forget removes the mark, so that Twitch's retry of a message whose handling failed after
	// it was marked is accepted.
	Forget(ctx context.Context, id string) error
}

// Memory dedupe defaults.
const (
	DefaultDedupeTTL        = 2 * DefaultWindow
	DefaultMemoryMaxEntries = 1 << 20
	memoryShards            = 32
)

// ErrDedupeFull: the memory store holds MaxEntries unexpired ids. Seen fails closed (the
// receiver answers 503 and Twitch retries) rather than forgetting ids that are still live.
var ErrDedupeFull = errors.New("webhook: dedupe store full")

// MemoryDedupeConfig configures NewMemoryDeduper. Zero values take the defaults.
type MemoryDedupeConfig struct {
	TTL        time.Duration    // default DefaultDedupeTTL
	MaxEntries int              // default DefaultMemoryMaxEntries, over all shards
	Now        func() time.Time // default time.Now
}

// MemoryDeduper is an in-process Deduper: a sharded map of id → expiry, bounded, swept lazily
// (no goroutine). Use RedisDeduper when several instances share the callbacks.
type MemoryDeduper struct {
	ttl      time.Duration
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [memoryShards]memoryShard
}

type memoryShard struct {
	mu        sync.Mutex
	expires   map[string]time.Time
	nextSweep time.Time
}

// NewMemoryDeduper returns an empty MemoryDeduper.
func NewMemoryDeduper(cfg MemoryDedupeConfig) *MemoryDeduper {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultDedupeTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMemoryMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &MemoryDeduper{
		ttl:      cfg.TTL,
		perShard: max(1, cfg.MaxEntries/memoryShards),
		now:      cfg.Now,
		seed:     maphash.MakeSeed(),
	}
	for i := range d.shards {
		d.shards[i].expires = make(map[string]time.Time)
	}
	return d
}

func (d *MemoryDeduper) shard(id string) *memoryShard {
	return &d.shards[maphash.String(d.seed, id)%memoryShards]
}

// Seen implements Deduper.
func (d *MemoryDeduper) Seen(_ context.Context, id string) (bool, error) {
	now := d.now()
	s := d.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.expires[id]; ok && now.Before(exp) {
		return true, nil
	}
	if now.After(s.nextSweep) || len(s.expires) >= d.perShard {
		s.sweep(now)
		s.nextSweep = now.Add(d.ttl / 4)
	}
	if len(s.expires) >= d.perShard {
		return false, ErrDedupeFull
	}
	s.expires[id] = now.Add(d.ttl)
	return false, nil
}

// Forget implements Deduper.
func (d *MemoryDeduper) Forget(_ context.Context, id string) error {
	s := d.shard(id)
	s.mu.Lock()
	delete(s.expires, id)
	s.mu.Unlock()
	return nil
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *MemoryDeduper) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.expires)
		s.mu.Unlock()
	}
	return n
}

func (s *memoryShard) sweep(now time.Time) {
	for id, exp := range s.expires {
		if !now.Before(exp) {
			delete(s.expires, id)
		}
	}
}
