package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/store"
)

// ShareLockTTL is the lease of a shared subscription's lock: longer than a create in
// Twitch takes (the Helix client gives up after 10 s), so that another instance never
// creates the same subscription meanwhile; an owner that dies holding it frees it within.
const ShareLockTTL = 15 * time.Second

// shareLockPoll is how often a waiting instance tries the lock again; shareLockWait is how
// long it waits in all before it reports an error (and creates anyway).
const (
	shareLockPoll = 20 * time.Millisecond
	shareLockWait = ShareLockTTL + 5*time.Second
)

// Shares is internal/relay's Registry on Redis: the shared webhook subscriptions of every instance, by
// (type, version, condition), each with the sessions referencing it (keys in store.Keys).
type Shares struct {
	l    *Redis
	rdb  redis.UniversalClient
	keys store.Keys
}

// NewShares returns the registry on l's Redis.
func NewShares(l *Redis) *Shares { return &Shares{l: l, rdb: l.rdb, keys: l.keys} }

// hashKey names a relay share key (which holds NULs) in Redis.
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

// Lock implements internal/relay's Registry.
func (s *Shares) Lock(ctx context.Context, key string) (func(), error) {
	return s.lock(ctx, hashKey(key))
}

func (s *Shares) lock(ctx context.Context, hk string) (func(), error) {
	deadline := time.NewTimer(shareLockWait)
	defer deadline.Stop()
	poll := time.NewTicker(shareLockPoll)
	defer poll.Stop()
	for {
		lease, ok, err := s.l.TryAcquire(ctx, "share:"+hk, ShareLockTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				defer cancel()
				_ = lease.Release(rctx) // else it lapses after ShareLockTTL
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("lock: shared subscription %s: still locked after %v", hk, shareLockWait)
		case <-poll.C:
		}
	}
}

// Find implements internal/relay's Registry.
func (s *Shares) Find(ctx context.Context, key string) (store.SharedSub, bool, error) {
	id, err := s.rdb.Get(ctx, s.keys.Share("key:"+hashKey(key))).Result()
	if errors.Is(err, redis.Nil) {
		return store.SharedSub{}, false, nil
	}
	if err != nil {
		return store.SharedSub{}, false, fmt.Errorf("lock: find shared subscription: %w", err)
	}
	h, err := s.rdb.HGetAll(ctx, s.keys.Share("sub:"+id)).Result()
	if err != nil {
		return store.SharedSub{}, false, fmt.Errorf("lock: find shared subscription: %w", err)
	}
	if len(h) == 0 {
		return store.SharedSub{}, false, nil
	}
	return store.SharedSub{ID: id, Creator: h["creator"], Status: h["status"]}, true, nil
}

// joinScript registers a subscription unless its key already names one, and adds the
// references. KEYS: key entry, sub hash, refs. ARGV: id, key hash, creator, status, sids...
var joinScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'key', ARGV[2], 'creator', ARGV[3], 'status', ARGV[4])
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
end
for i = 5, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
`)

// Join implements internal/relay's Registry.
func (s *Shares) Join(ctx context.Context, key string, sub store.SharedSub, sids ...string) error {
	hk := hashKey(key)
	args := append([]any{sub.ID, hk, sub.Creator, sub.Status}, toAny(sids)...)
	err := joinScript.Run(ctx, s.rdb, []string{s.keys.Share("key:" + hk), s.keys.Share("sub:" + sub.ID), s.keys.Share("refs:" + sub.ID)}, args...).Err()
	if err != nil {
		return fmt.Errorf("lock: join shared subscription %s: %w", sub.ID, err)
	}
	return nil
}

// leaveScript drops a reference; with none left it forgets the subscription and returns 1.
// KEYS: sub hash, refs, key entry. ARGV: sid, id.
var leaveScript = redis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 1
`)

// Leave implements internal/relay's Registry.
func (s *Shares) Leave(ctx context.Context, id, sid string) (bool, error) {
	hk, err := s.rdb.HGet(ctx, s.keys.Share("sub:"+id), "key").Result()
	if errors.Is(err, redis.Nil) {
		return true, nil // never registered (or already forgotten): nobody else joined it
	}
	if err != nil {
		return false, fmt.Errorf("lock: leave shared subscription %s: %w", id, err)
	}
	unlock, err := s.lock(ctx, hk)
	if err != nil {
		return false, err
	}
	defer unlock()
	n, err := leaveScript.Run(ctx, s.rdb, []string{s.keys.Share("sub:" + id), s.keys.Share("refs:" + id), s.keys.Share("key:" + hk)}, sid, id).Int()
	if err != nil {
		return false, fmt.Errorf("lock: leave shared subscription %s: %w", id, err)
	}
	return n == 1, nil
}

// Refs implements internal/relay's Registry.
func (s *Shares) Refs(ctx context.Context, id string) ([]string, error) {
	refs, err := s.rdb.SMembers(ctx, s.keys.Share("refs:"+id)).Result()
	if err != nil {
		return nil, fmt.Errorf("lock: shared subscription %s: %w", id, err)
	}
	return refs, nil
}

// Forget implements internal/relay's Registry.
func (s *Shares) Forget(ctx context.Context, id string) error {
	hk, err := s.rdb.HGet(ctx, s.keys.Share("sub:"+id), "key").Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock: forget shared subscription %s: %w", id, err)
	}
	if err := leaveAll(ctx, s, hk, id); err != nil {
		return fmt.Errorf("lock: forget shared subscription %s: %w", id, err)
	}
	return nil
}

// statusScript sets a registered subscription's status. KEYS: sub hash. ARGV: status.
var statusScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end
return 1
`)

// SetStatus implements internal/relay's Registry.
func (s *Shares) SetStatus(ctx context.Context, id, status string) error {
	if err := statusScript.Run(ctx, s.rdb, []string{s.keys.Share("sub:" + id)}, status).Err(); err != nil {
		return fmt.Errorf("lock: shared subscription %s status: %w", id, err)
	}
	return nil
}

// forgetScript deletes a registered subscription. KEYS: sub hash, refs, key entry. ARGV: id.
var forgetScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
`)

func leaveAll(ctx context.Context, s *Shares, hk, id string) error {
	return forgetScript.Run(ctx, s.rdb, []string{s.keys.Share("sub:" + id), s.keys.Share("refs:" + id), s.keys.Share("key:" + hk)}, id).Err()
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
