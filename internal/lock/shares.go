package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
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

// DefaultRefsLease is how long an instance may answer Refs from its memory after reading the
// receivers from Redis (issue 17: one SMEMBERS per callback was a round trip of three).
const DefaultRefsLease = 250 * time.Millisecond

// leaseMargin is added to a lease's remaining time when a change waits it out: the clocks of
// Redis and of the instance holding it need not run at exactly the same rate.
const leaseMargin = 25 * time.Millisecond

// Shares is internal/relay's Registry on Redis: the shared webhook subscriptions of every instance, by
// (type, version, condition), each with the sessions referencing it (keys in store.Keys).
//
// Refs, called for every notification, is answered from memory for a lease after each read
// from Redis. The read registers the lease in Redis in the same script (share "leases:<id>":
// instance → expiry, Redis's clock), and every change of the references (Join, Leave,
// Forget) waits, after it is made, until every lease taken before it has run out (at most
// the lease, plus leaseMargin) before it returns. So a session that joined or left a
// shared subscription on any instance is seen by every instance's next Refs once the
// change has returned: a stale memory can never drop an event for a newly joined
// receiver. The holder's lease ends earlier in its own clock than in Redis's (it starts
// counting before it sends the read). Only changes wait, and only while some instance is
// answering the subscription's notifications from memory.
type Shares struct {
	l     *Redis
	rdb   redis.UniversalClient
	keys  store.Keys
	lease time.Duration // 0: every Refs reads Redis

	mu   sync.Mutex
	refs map[string]cachedRefs
}

// cachedRefs is one subscription's receivers as read, usable until until (local clock).
type cachedRefs struct {
	refs  []string
	until time.Time
}

// NewShares returns the registry on l's Redis, with Refs leases of DefaultRefsLease.
func NewShares(l *Redis) *Shares { return NewSharesLease(l, DefaultRefsLease) }

// NewSharesLease is NewShares with Refs leases of lease (0: none, every Refs reads Redis).
func NewSharesLease(l *Redis, lease time.Duration) *Shares {
	return &Shares{l: l, rdb: l.rdb, keys: l.keys, lease: lease, refs: map[string]cachedRefs{}}
}

// waitLeases waits out the leases a change's script reported (ms remaining in Redis's
// clock). With ctx ending first it returns nil all the same: the change is made (an error
// would have a joiner create the subscription again), and it is seen everywhere within
// what was left of the leases.
func (s *Shares) waitLeases(ctx context.Context, id string, remainingMs int64) error {
	s.mu.Lock()
	delete(s.refs, id) // this instance's own lease: dropped at once
	s.mu.Unlock()
	if remainingMs <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(remainingMs)*time.Millisecond + leaseMargin)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// leaseRemaining is the Lua that sets rem to the longest remaining lease of KEYS[lk] (ms,
// Redis's clock) and drops the expired ones.
const leaseRemaining = `
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rem = 0
local ls = redis.call('HGETALL', KEYS[lk])
for i = 1, #ls, 2 do
  local r = tonumber(ls[i + 1]) - nowms
  if r > rem then rem = r end
  if r <= 0 then redis.call('HDEL', KEYS[lk], ls[i]) end
end
`

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
// references; it returns the longest remaining Refs lease (ms), or 0 when every sid was
// referenced already (an adopted session joining again: nothing for anyone to see). KEYS: key entry, sub hash,
// refs, leases. ARGV: id, key hash, creator, status, sids...
var joinScript = redis.NewScript(`
local lk = 4
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'key', ARGV[2], 'creator', ARGV[3], 'status', ARGV[4])
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
end
local added = 0
for i = 5, #ARGV do added = added + redis.call('SADD', KEYS[3], ARGV[i]) end
` + leaseRemaining + `
if added == 0 then rem = 0 end -- nothing changed: nothing to wait for
return rem
`)

// Join implements internal/relay's Registry; it returns once every instance's next Refs
// sees sids.
func (s *Shares) Join(ctx context.Context, key string, sub store.SharedSub, sids ...string) error {
	hk := hashKey(key)
	args := append([]any{sub.ID, hk, sub.Creator, sub.Status}, toAny(sids)...)
	rem, err := joinScript.Run(ctx, s.rdb, []string{s.keys.Share("key:" + hk), s.keys.Share("sub:" + sub.ID), s.keys.Share("refs:" + sub.ID), s.keys.Share("leases:" + sub.ID)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("lock: join shared subscription %s: %w", sub.ID, err)
	}
	if err := s.waitLeases(ctx, sub.ID, rem); err != nil {
		return fmt.Errorf("lock: join shared subscription %s: %w", sub.ID, err)
	}
	return nil
}

// leaveScript drops a reference; it returns whether none is left (then the subscription is
// forgotten, its leases too: the caller waits them out) and the longest remaining Refs
// lease (ms), 0 when sid was not referenced. KEYS: sub hash, refs, key entry, leases.
// ARGV: sid, id.
var leaveScript = redis.NewScript(`
local lk = 4
local removed = redis.call('SREM', KEYS[2], ARGV[1])
` + leaseRemaining + `
if removed == 0 then rem = 0 end -- nothing changed: nothing to wait for
if redis.call('SCARD', KEYS[2]) > 0 then return {0, rem} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return {1, rem}
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
	res, err := leaveScript.Run(ctx, s.rdb, []string{s.keys.Share("sub:" + id), s.keys.Share("refs:" + id), s.keys.Share("key:" + hk), s.keys.Share("leases:" + id)}, sid, id).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("reply %v", res)
	}
	if err != nil {
		return false, fmt.Errorf("lock: leave shared subscription %s: %w", id, err)
	}
	if err := s.waitLeases(ctx, id, res[1]); err != nil {
		return false, fmt.Errorf("lock: leave shared subscription %s: %w", id, err)
	}
	return res[0] == 1, nil
}

// refsScript reads the references and registers this instance's Refs lease. KEYS: refs,
// leases. ARGV: owner, lease ms.
var refsScript = redis.NewScript(`
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], nowms + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]) + 1000)
return redis.call('SMEMBERS', KEYS[1])
`)

// Refs implements internal/relay's Registry: from memory while this instance's lease of
// id's references lasts (see Shares), else from Redis, taking a new lease. The slice is
// shared: callers must not modify it.
func (s *Shares) Refs(ctx context.Context, id string) ([]string, error) {
	if s.lease <= 0 {
		refs, err := s.rdb.SMembers(ctx, s.keys.Share("refs:"+id)).Result()
		if err != nil {
			return nil, fmt.Errorf("lock: shared subscription %s: %w", id, err)
		}
		return refs, nil
	}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.refs[id]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.refs, nil
	}
	// The lease counts from before the read is sent: it ends here no later than in Redis.
	refs, err := refsScript.Run(ctx, s.rdb, []string{s.keys.Share("refs:" + id), s.keys.Share("leases:" + id)}, s.l.owner, s.lease.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("lock: shared subscription %s: %w", id, err)
	}
	s.mu.Lock()
	if len(s.refs) > maxCachedRefs {
		for k, c := range s.refs {
			if !now.Before(c.until) {
				delete(s.refs, k)
			}
		}
	}
	if c, ok := s.refs[id]; !ok || c.until.Before(now.Add(s.lease)) {
		s.refs[id] = cachedRefs{refs: refs, until: now.Add(s.lease)}
	}
	s.mu.Unlock()
	return refs, nil
}

// maxCachedRefs: past this many subscriptions in memory, the expired ones are dropped.
const maxCachedRefs = 4096

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

// forgetScript deletes a registered subscription (its leases too: the caller waits them
// out) and returns the longest remaining Refs lease (ms). KEYS: sub hash, refs, key entry,
// leases. ARGV: id.
var forgetScript = redis.NewScript(`
local lk = 4
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
` + leaseRemaining + `
redis.call('DEL', KEYS[4])
return rem
`)

func leaveAll(ctx context.Context, s *Shares, hk, id string) error {
	rem, err := forgetScript.Run(ctx, s.rdb, []string{s.keys.Share("sub:" + id), s.keys.Share("refs:" + id), s.keys.Share("key:" + hk), s.keys.Share("leases:" + id)}, id).Int64()
	if err != nil {
		return err
	}
	return s.waitLeases(ctx, id, rem)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
