package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds of the marks' group commit.
const (
	dedupeTimeout  = 2 * time.Second // one batch of marks
	maxDedupeBatch = 128             // marks per round trip
)

// RedisDedupe is a dedupe shared by every instance on one Redis: SET key 1 NX PX ttl under
// Keys.dedupe. Concurrent marks share a round trip (one pipeline per batch, Batcher).
type RedisDedupe struct {
	client redis.UniversalClient
	keys   Keys
	ttl    time.Duration
	batch  *Batcher[*redisMark]
}

// redisMark is one Seen waiting for its batch.
type redisMark struct {
	key  string
	seen bool
	err  error
}

// NewRedisDedupe returns a RedisDedupe whose marks live ttl.
func NewRedisDedupe(client redis.UniversalClient, k Keys, ttl time.Duration) *RedisDedupe {
	d := &RedisDedupe{client: client, keys: k, ttl: ttl}
	d.batch = &Batcher[*redisMark]{Commit: d.commit, Max: maxDedupeBatch}
	return d
}

// Seen implements webhook.Deduper with one round trip, shared with concurrent calls. A Redis
// error is returned as is: the caller fails closed (503, Twitch retries). The mark is sent
// even if ctx ends while it waits for its batch (it waits at most about 2 × dedupeTimeout),
// so that "not seen" is never answered for a mark that was never set.
func (d *RedisDedupe) Seen(_ context.Context, id string) (bool, error) {
	m := &redisMark{key: d.keys.dedupe(id)}
	d.batch.Do(m)
	return m.seen, m.err
}

// commit sets a batch of marks in one pipeline.
func (d *RedisDedupe) commit(batch []*redisMark) {
	ctx, cancel := context.WithTimeout(context.Background(), dedupeTimeout)
	defer cancel()
	cmds := make([]*redis.StatusCmd, len(batch))
	_, _ = d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range batch {
			cmds[i] = p.SetArgs(ctx, m.key, "1", redis.SetArgs{Mode: "NX", TTL: d.ttl})
		}
		return nil
	})
	for i, m := range batch {
		switch err := cmds[i].Err(); {
		case err == redis.Nil: // NX and the key exists
			m.seen = true
		case err != nil:
			m.err = fmt.Errorf("store: redis dedupe: %w", err)
		}
	}
}

// Forget implements webhook.Deduper.
func (d *RedisDedupe) Forget(ctx context.Context, id string) error {
	if err := d.client.Del(ctx, d.keys.dedupe(id)).Err(); err != nil {
		return fmt.Errorf("store: redis dedupe forget: %w", err)
	}
	return nil
}
