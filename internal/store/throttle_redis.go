package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript spends one token from each bucket in KEYS if every one has a token, or none.
// A bucket is a hash {tokens, at (ms)} holding ARGV[1] tokens refilled evenly over ARGV[2]
// ms; a missing one is full. The clock is Redis's (TIME), so every instance agrees. A bucket
// untouched for a window would be full again, so each expires a window after its last take.
// It returns 0 when taken, else the milliseconds until every bucket has a token.
var takeScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local have = {}
local wait = 0
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'tokens', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or at == nil then
    tokens, at = limit, now
  end
  if now > at then
    tokens = math.min(limit, tokens + limit * (now - at) / window)
  end
  have[i] = tokens
  if tokens < 1 then
    wait = math.max(wait, math.ceil((1 - tokens) / limit * window))
  end
end
if wait > 0 then
  return wait
end
for i, k in ipairs(KEYS) do
  redis.call('HSET', k, 'tokens', tostring(have[i] - 1), 'at', tostring(now))
  redis.call('PEXPIRE', k, window)
end
return 0
`)

// RedisThrottle is a set of token buckets shared by every instance on one Redis, under
// Keys.throttle: the same rule as internal/web's in-memory throttle (limit tokens per key,
// refilled over window; a take of several keys is all or nothing), in one script.
type RedisThrottle struct {
	client redis.UniversalClient
	keys   Keys
	limit  int
	window time.Duration
}

// NewRedisThrottle returns buckets of limit tokens refilled over window.
func NewRedisThrottle(client redis.UniversalClient, k Keys, limit int, window time.Duration) *RedisThrottle {
	return &RedisThrottle{client: client, keys: k, limit: limit, window: window}
}

// Take spends one token from each key's bucket if all have one; otherwise nothing is spent
// and retry says when they will. A Redis error is returned as is, with ok false: the caller
// refuses the change (it never goes unlimited).
func (t *RedisThrottle) Take(ctx context.Context, keys ...string) (ok bool, retry time.Duration, err error) {
	ks := make([]string, len(keys))
	for i, k := range keys {
		ks[i] = t.keys.throttle(k)
	}
	wait, err := takeScript.Run(ctx, t.client, ks, t.limit, t.window.Milliseconds()).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("store: redis throttle: %w", err)
	}
	if wait > 0 {
		return false, time.Duration(wait) * time.Millisecond, nil
	}
	return true, 0, nil
}
