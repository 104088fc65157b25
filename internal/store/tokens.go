package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

// ErrNoToken means no token is stored for the relay session (never stored, deleted, or
// expired with the session).
var ErrNoToken = errors.New("store: no token for session")

// Each relay session's Twitch user token lives on the server, never in the browser, keyed by
// relay session id. Requests and background work (refreshes, validation, polling) share it,
// so a rotating refresh happens once. A token expires ttl after its last write, like the
// session that owns it, in memory as in Redis.

// MemoryTokens keeps tokens in process memory. Expired entries are dropped when read, and
// every ttl/4 a write sweeps them all (no goroutine), so memory follows live sessions.
type MemoryTokens struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	m         map[string]memToken
	nextSweep time.Time
}

type memToken struct {
	t       auth.Token
	expires time.Time
}

// NewMemoryTokens returns an empty MemoryTokens whose entries live ttl after their last
// write; now nil means time.Now.
func NewMemoryTokens(ttl time.Duration, now func() time.Time) *MemoryTokens {
	if now == nil {
		now = time.Now
	}
	return &MemoryTokens{ttl: ttl, now: now, m: map[string]memToken{}}
}

// Get returns the session's token, or ErrNoToken.
func (s *MemoryTokens) Get(_ context.Context, sid string) (auth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[sid]
	if ok && !s.now().Before(e.expires) {
		delete(s.m, sid)
		ok = false
	}
	if !ok {
		return auth.Token{}, ErrNoToken
	}
	return e.t, nil
}

// Put stores the session's token for ttl.
func (s *MemoryTokens) Put(_ context.Context, sid string, t auth.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.After(s.nextSweep) {
		s.sweep(now)
		s.nextSweep = now.Add(s.ttl / 4)
	}
	s.m[sid] = memToken{t: t, expires: now.Add(s.ttl)}
	return nil
}

// Delete forgets the session's token.
func (s *MemoryTokens) Delete(_ context.Context, sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sid)
	return nil
}

// Len returns how many tokens are held, expired ones not yet swept included.
func (s *MemoryTokens) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *MemoryTokens) sweep(now time.Time) {
	for sid, e := range s.m {
		if !now.Before(e.expires) {
			delete(s.m, sid)
		}
	}
}

// RedisTokens keeps tokens in Redis under Keys.token, each with a TTL.
type RedisTokens struct {
	client redis.UniversalClient
	keys   Keys
	ttl    time.Duration
}

// NewRedisTokens stores tokens for ttl after their last write.
func NewRedisTokens(c redis.UniversalClient, k Keys, ttl time.Duration) *RedisTokens {
	return &RedisTokens{client: c, keys: k, ttl: ttl}
}

// Get returns the session's token, or ErrNoToken.
func (s *RedisTokens) Get(ctx context.Context, sid string) (auth.Token, error) {
	b, err := s.client.Get(ctx, s.keys.token(sid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return auth.Token{}, ErrNoToken
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("store: get token: %w", err)
	}
	var t auth.Token
	if err := json.Unmarshal(b, &t); err != nil {
		return auth.Token{}, fmt.Errorf("store: decode token: %w", err)
	}
	return t, nil
}

// Put stores the session's token for ttl.
func (s *RedisTokens) Put(ctx context.Context, sid string, t auth.Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("store: encode token: %w", err)
	}
	if err := s.client.Set(ctx, s.keys.token(sid), b, s.ttl).Err(); err != nil {
		return fmt.Errorf("store: put token: %w", err)
	}
	return nil
}

// Delete forgets the session's token.
func (s *RedisTokens) Delete(ctx context.Context, sid string) error {
	if err := s.client.Del(ctx, s.keys.token(sid)).Err(); err != nil {
		return fmt.Errorf("store: delete token: %w", err)
	}
	return nil
}
