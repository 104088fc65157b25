package app

import (
	"context"
	"errors"
	"strings"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/alexedwards/scs/v2"
)

// redisSessions is the scs session store in Redis, with the same layout as scs/redisstore
// (prefix + token, a string with a millisecond expiry), but bounded: every call takes a
// connection from the pool with the request's context, waiting at most redisPoolWait when the
// pool is at its size, instead of redisstore's Get, which would wait for ever or, without a
// limit, open one connection per concurrent request.
type redisSessions struct {
	pool   *redigo.Pool
	prefix string
}

// conn waits for a pooled connection as long as ctx allows, at most redisPoolWait. (Each
// command then has the dial options' read and write timeouts.)
func (s *redisSessions) conn(ctx context.Context) (redigo.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, redisPoolWait)
	defer cancel()
	return s.pool.GetContext(ctx)
}

// FindCtx implements scs.CtxStore.
func (s *redisSessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	b, err := redigo.Bytes(c.Do("GET", s.prefix+token))
	if errors.Is(err, redigo.ErrNil) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// CommitCtx implements scs.CtxStore.
func (s *redisSessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("SET", s.prefix+token, b, "PXAT", expiry.UnixMilli())
	return err
}

// DeleteCtx implements scs.CtxStore.
func (s *redisSessions) DeleteCtx(ctx context.Context, token string) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("DEL", s.prefix+token)
	return err
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
