package store

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// Webhook message ids already accepted, per relay session, so that a message Twitch delivers
// again is handled once (the webhook package's Deduper). Marks expire after a TTL, which the
// wiring sets to twice the webhook timestamp window: an older message is refused as stale
// anyway.

// Memory dedupe limits.
const (
	DefaultMemoryDedupeEntries = 1 << 20
	memoryShards               = 32
)

// ErrDedupeFull: the memory store holds MaxEntries unexpired ids. Seen fails closed (the
// receiver answers 503 and Twitch retries) rather than forgetting ids that are still live.
var ErrDedupeFull = errors.New("store: dedupe full")

// MemoryDedupeConfig configures NewMemoryDedupe. Zero values take the defaults.
type MemoryDedupeConfig struct {
	TTL        time.Duration    // required
	MaxEntries int              // default DefaultMemoryDedupeEntries, over all shards
	Now        func() time.Time // default time.Now
}

// MemoryDedupe is an in-process dedupe: a sharded map of id → expiry, bounded, swept lazily
// (no goroutine). Use RedisDedupe when several instances share the callbacks.
type MemoryDedupe struct {
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

// NewMemoryDedupe returns an empty MemoryDedupe.
func NewMemoryDedupe(cfg MemoryDedupeConfig) *MemoryDedupe {
	if cfg.TTL <= 0 {
		panic("store: MemoryDedupeConfig.TTL is required")
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMemoryDedupeEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &MemoryDedupe{
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

func (d *MemoryDedupe) shard(id string) *memoryShard {
	return &d.shards[maphash.String(d.seed, id)%memoryShards]
}

// Seen marks id and reports whether it was already marked (webhook.Deduper).
func (d *MemoryDedupe) Seen(_ context.Context, id string) (bool, error) {
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

// Forget removes the mark of id (webhook.Deduper).
func (d *MemoryDedupe) Forget(_ context.Context, id string) error {
	s := d.shard(id)
	s.mu.Lock()
	delete(s.expires, id)
	s.mu.Unlock()
	return nil
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *MemoryDedupe) Len() int {
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
