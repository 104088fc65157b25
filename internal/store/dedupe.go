package store

import (
	"context"
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

// MemoryDedupeConfig configures NewMemoryDedupe. Zero values take the defaults.
type MemoryDedupeConfig struct {
	TTL        time.Duration    // required
	MaxEntries int              // default DefaultMemoryDedupeEntries, over all shards
	Now        func() time.Time // default time.Now
}

// MemoryDedupe is an in-process dedupe: per shard, a map of id → expiry and the ids in the
// order they were marked (which is expiry order), so expired marks go from the front in
// O(1) each, and at capacity the oldest mark is evicted: the store never refuses work, and a
// full store forgets the id nearest to expiring (one whose message Twitch would soon refuse
// as stale anyway). No goroutine. Use RedisDedupe when several instances share the callbacks.
type MemoryDedupe struct {
	ttl      time.Duration
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [memoryShards]memoryShard
}

type memoryShard struct {
	mu      sync.Mutex
	expires map[string]int64 // unix nanoseconds
	order   []mark           // marks oldest first, from head; a mark whose map entry differs is stale
	head    int
	evicted uint64 // unexpired marks evicted at capacity
}

type mark struct {
	id      string
	expires int64
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
		d.shards[i].expires = make(map[string]int64)
	}
	return d
}

func (d *MemoryDedupe) shard(id string) *memoryShard {
	return &d.shards[maphash.String(d.seed, id)%memoryShards]
}

// Seen marks id and reports whether it was already marked (webhook.Deduper). It never fails.
func (d *MemoryDedupe) Seen(_ context.Context, id string) (bool, error) {
	now := d.now().UnixNano()
	s := d.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.expires[id]; ok && now < exp {
		return true, nil
	}
	s.expire(now)
	for len(s.expires) >= d.perShard {
		s.popOldest(true)
	}
	exp := now + int64(d.ttl)
	s.expires[id] = exp
	s.order = append(s.order, mark{id, exp})
	return false, nil
}

// Forget removes the mark of id (webhook.Deduper).
func (d *MemoryDedupe) Forget(_ context.Context, id string) error {
	s := d.shard(id)
	s.mu.Lock()
	delete(s.expires, id) // its entry in order is now stale, dropped when it reaches the head
	s.mu.Unlock()
	return nil
}

// Len returns the number of ids remembered.
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

// Evicted returns how many unexpired marks were evicted because the store was full.
func (d *MemoryDedupe) Evicted() uint64 {
	var n uint64
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += s.evicted
		s.mu.Unlock()
	}
	return n
}

// expire drops the marks that expired by now, from the head.
func (s *memoryShard) expire(now int64) {
	for s.head < len(s.order) && s.order[s.head].expires <= now {
		s.popOldest(false)
	}
}

// popOldest drops the head mark (from the map too, unless the map's entry is a newer mark of
// the same id), and compacts order once its dead prefix is at least half of it.
func (s *memoryShard) popOldest(evicting bool) {
	m := s.order[s.head]
	s.order[s.head] = mark{}
	s.head++
	if exp, ok := s.expires[m.id]; ok && exp == m.expires {
		delete(s.expires, m.id)
		if evicting {
			s.evicted++
		}
	}
	if s.head >= 64 && s.head*2 >= len(s.order) {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order, s.head = s.order[:n], 0
	}
}
