package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisDedupePrefix prefixes every dedupe key in Redis.
const DefaultRedisDedupePrefix = "twitchrelay:dedupe:"

// RedisDeduper is a Deduper shared by every instance on one Redis: SET key 1 NX PX ttl.
type RedisDeduper struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisDeduper returns a RedisDeduper. prefix "" means DefaultRedisDedupePrefix, ttl 0
// means DefaultDedupeTTL.
func NewRedisDeduper(client redis.UniversalClient, prefix string, ttl time.Duration) *RedisDeduper {
	if prefix == "" {
		prefix = DefaultRedisDedupePrefix
	}
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	return &RedisDeduper{client: client, prefix: prefix, ttl: ttl}
}

// Seen implements Deduper with one round trip. A Redis error is returned as is: the caller
// fails closed (503, Twitch retries).
func (d *RedisDeduper) Seen(ctx context.Context, id string) (bool, error) {
	err := d.client.SetArgs(ctx, d.prefix+id, "1", redis.SetArgs{Mode: "NX", TTL: d.ttl}).Err()
	switch {
	case err == redis.Nil: // NX and the key exists
		return true, nil
	case err != nil:
		return false, fmt.Errorf("webhook: redis dedupe: %w", err)
	}
	return false, nil
}

// Forget implements Deduper.
func (d *RedisDeduper) Forget(ctx context.Context, id string) error {
	if err := d.client.Del(ctx, d.prefix+id).Err(); err != nil {
		return fmt.Errorf("webhook: redis dedupe forget: %w", err)
	}
	return nil
}
