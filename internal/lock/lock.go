// Package lock gives work that must have exactly one owner across instances (the start-up
// reconcile, the hourly token validation, and later each user's Twitch WebSocket session) a
// Redis lock: SET key token NX PX ttl to take it, a compare-and-extend script to renew it
// and a compare-and-delete script to release it, so that an owner whose lease lapsed can
// neither extend nor delete its successor's. Each take also gets a fence: a number that grows
// with every new owner of the name, for work that must refuse an older owner's writes.
//
// An owner that dies stops renewing; its key expires after at most TTL and another instance,
// trying every TTL/3, takes over within TTL + TTL/3 of the last renewal. Without Redis (one
// process) Local owns everything at once.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/store"
)

// DefaultTTL is the lease of a lock when a caller gives none: an owner that dies is replaced
// within DefaultTTL + DefaultTTL/3.
const DefaultTTL = 6 * time.Second

// ErrNotHeld: the lock is held by someone else (or its lease lapsed).
var ErrNotHeld = errors.New("lock: not held")

// Locker takes named locks. *Redis and Local implement it.
type Locker interface {
	// TryAcquire takes the named lock for ttl if nobody holds it; ok is false if someone does.
	TryAcquire(ctx context.Context, name string, ttl time.Duration) (l *Lease, ok bool, err error)
}

// Lease is one holding of a named lock.
type Lease struct {
	r     *Redis // nil for Local
	key   string
	token string
	fence int64
}

// Fence grows with every new owner of the name (0 for Local).
func (l *Lease) Fence() int64 { return l.fence }

// Redis is a Locker on Redis. Owner names this instance in the tokens (logs, debugging).
type Redis struct {
	rdb   redis.UniversalClient
	keys  store.Keys
	owner string
}

// NewRedis returns a Locker on rdb with keys under keys' prefix.
func NewRedis(rdb redis.UniversalClient, keys store.Keys, owner string) *Redis {
	return &Redis{rdb: rdb, keys: keys, owner: owner}
}

// acquireScript: SET NX PX, and on success the next fence of the name. KEYS: lock, fence.
// ARGV: token prefix, ttl ms. Returns the token, or false. The fence counter outlives the
// lock by a day and then goes: per-session names (claims, validations) would
// otherwise leave one counter per session behind for ever.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 86400000)
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
`)

// renewScript extends the lock only if it still holds our token. KEYS: lock. ARGV: token, ttl.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// releaseScript deletes the lock only if it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// TryAcquire implements Locker.
func (r *Redis) TryAcquire(ctx context.Context, name string, ttl time.Duration) (*Lease, bool, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	var b [8]byte
	rand.Read(b[:])
	key := r.keys.Lock(name)
	token, err := acquireScript.Run(ctx, r.rdb, []string{key, key + ":fence"}, r.owner+":"+hex.EncodeToString(b[:]), ttl.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("lock: acquire %s: %w", name, err)
	}
	fs, _, _ := strings.Cut(token, ":")
	fence, _ := strconv.ParseInt(fs, 10, 64)
	return &Lease{r: r, key: key, token: token, fence: fence}, true, nil
}

// Renew extends the lease to ttl from now; ErrNotHeld if it lapsed and someone else (or
// nobody) holds it.
func (l *Lease) Renew(ctx context.Context, ttl time.Duration) error {
	if l.r == nil {
		return nil
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	n, err := renewScript.Run(ctx, l.r.rdb, []string{l.key}, l.token, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("lock: renew: %w", err)
	}
	if n == 0 {
		return ErrNotHeld
	}
	return nil
}

// Release gives the lock up if we still hold it (a lapsed lease deletes nothing).
func (l *Lease) Release(ctx context.Context) error {
	if l.r == nil {
		return nil
	}
	if err := releaseScript.Run(ctx, l.r.rdb, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("lock: release: %w", err)
	}
	return nil
}

// Local is the Locker of a single process: every lock is always free.
type Local struct{}

// TryAcquire implements Locker.
func (Local) TryAcquire(context.Context, string, time.Duration) (*Lease, bool, error) {
	return &Lease{}, true, nil
}

// Singleton runs work while this instance owns the named lock, and keeps trying to own it
// until ctx ends: every ttl/3 it tries to take the lock; once it has it, it runs work with a
// context that ends when ctx does or when a renewal fails (the lease may have lapsed: another
// instance may own it now), renewing every ttl/3 meanwhile. When work returns early it is
// started again while the lock is held. The lock is released on the way out.
func Singleton(ctx context.Context, l Locker, name string, ttl time.Duration, log *slog.Logger, work func(context.Context)) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		lease, ok, err := l.TryAcquire(ctx, name, ttl)
		if err != nil && ctx.Err() == nil {
			log.Warn("lock: acquire", "lock", name, "err", err)
		}
		if ok {
			log.Info("lock: owner", "lock", name, "fence", lease.Fence())
			hold(ctx, lease, every, ttl, log, name, work)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
			_ = lease.Release(rctx)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hold runs work (again when it returns) until ctx ends or a renewal fails.
func hold(ctx context.Context, lease *Lease, every, ttl time.Duration, log *slog.Logger, name string, work func(context.Context)) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wctx.Err() == nil {
			work(wctx)
			if wctx.Err() == nil { // returned early: wait a beat before starting it again
				t := time.NewTimer(every)
				select {
				case <-wctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return
		case <-done:
			return
		case <-t.C:
			rctx, rcancel := context.WithTimeout(ctx, every)
			err := lease.Renew(rctx, ttl)
			rcancel()
			if err != nil {
				log.Warn("lock: lost", "lock", name, "err", err)
				cancel()
				<-done
				return
			}
		}
	}
}
