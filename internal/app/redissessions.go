package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
)

// redisSessions is the design card's scs/redisstore (prefix + token, a string with a
// millisecond expiry) behind a bounded admission: a call first takes one of the pool's
// MaxActive places with the request's context, waiting at most redisPoolWait, then
// redisstore's own Get finds a connection free (the pool never has more callers than
// places). Without it redisstore's Get waits for ever on a full pool (Wait) or, without a
// limit, opens one connection per concurrent request.
type redisSessions struct {
	store  *redisstore.RedisStore
	places chan struct{} // one per pool connection
}

func newRedisSessions(pool *redigo.Pool, prefix string) *redisSessions {
	return &redisSessions{store: redisstore.NewWithPrefix(pool, prefix), places: make(chan struct{}, pool.MaxActive)}
}

// admit waits for a place as long as ctx allows, at most redisPoolWait, and returns its
// release.
func (s *redisSessions) admit(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, redisPoolWait)
	defer cancel()
	select {
	case s.places <- struct{}{}:
		return func() { <-s.places }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("session store: no Redis connection free: %w", ctx.Err())
	}
}

// FindCtx implements scs.CtxStore.
func (s *redisSessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	release, err := s.admit(ctx)
	if err != nil {
		return nil, false, err
	}
	defer release()
	return s.store.Find(token)
}

// CommitCtx implements scs.CtxStore.
func (s *redisSessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	release, err := s.admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.store.Commit(token, b, expiry)
}

// DeleteCtx implements scs.CtxStore.
func (s *redisSessions) DeleteCtx(ctx context.Context, token string) error {
	release, err := s.admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.store.Delete(token)
}

// Find, Commit and Delete implement scs.Store (scs calls the Ctx forms).
func (s *redisSessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}
func (s *redisSessions) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}
func (s *redisSessions) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// redisClientName is how the relay's connections show in Redis's CLIENT LIST: role and key
// prefix (CLIENT SETNAME allows no spaces).
func redisClientName(role, prefix string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, "twitchrelay-"+role+"@"+prefix)
}

var _ scs.CtxStore = (*redisSessions)(nil)
