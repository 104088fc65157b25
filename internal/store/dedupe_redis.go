package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisDedupe is a dedupe shared by every instance on one Redis: SET key 1 NX PX ttl under
// Keys.dedupe.
type RedisDedupe struct {
	client redis.UniversalClient
	keys   Keys
	ttl    time.Duration
}

// NewRedisDedupe returns a RedisDedupe whose marks live ttl.
func NewRedisDedupe(client redis.UniversalClient, k Keys, ttl time.Duration) *RedisDedupe {
	return &RedisDedupe{client: client, keys: k, ttl: ttl}
}

// Seen implements webhook.Deduper with one round trip. A Redis error is returned as is: the caller
// fails closed (503, Twitch retries).
func (d *RedisDedupe) Seen(ctx context.Context, id string) (bool, error) {
	err := d.client.SetArgs(ctx, d.keys.dedupe(id), "1", redis.SetArgs{Mode: "NX", TTL: d.ttl}).Err()
	switch {
	case err == redis.Nil: // NX and the key exists
		return true, nil
	case err != nil:
		return false, fmt.Errorf("store: redis dedupe: %w", err)
	}
	return false, nil
}

// Forget implements webhook.Deduper.
func (d *RedisDedupe) Forget(ctx context.Context, id string) error {
	if err := d.client.Del(ctx, d.keys.dedupe(id)).Err(); err != nil {
		return fmt.Errorf("store: redis dedupe forget: %w", err)
	}
	return nil
}
