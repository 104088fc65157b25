// Package tokenstore keeps each relay session's Twitch user token on the server, never in the
// browser: in memory, or in Redis when configured so that a restart keeps users logged in and
// background work (refreshes, validation, polling) and requests share one rotating token.
package tokenstore

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

// ErrNotFound means no token is stored for the session.
var ErrNotFound = errors.New("tokenstore: no token for session")

// Store keeps tokens by relay session id.
type Store interface {
	Get(ctx context.Context, sid string) (auth.Token, error)
	Put(ctx context.Context, sid string, t auth.Token) error
	Delete(ctx context.Context, sid string) error
}

// Memory is an in-process Store.
type Memory struct {
	mu sync.Mutex
	m  map[string]auth.Token
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string]auth.Token{}} }

func (s *Memory) Get(_ context.Context, sid string) (auth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[sid]
	if !ok {
		return auth.Token{}, ErrNotFound
	}
	return t, nil
}

func (s *Memory) Put(_ context.Context, sid string, t auth.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sid] = t
	return nil
}

func (s *Memory) Delete(_ context.Context, sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sid)
	return nil
}

// Redis is a Store in Redis; each token expires with the session that owns it.
type Redis struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedis stores tokens under prefix+sid for ttl after their last write.
func NewRedis(c redis.UniversalClient, prefix string, ttl time.Duration) *Redis {
	return &Redis{client: c, prefix: prefix, ttl: ttl}
}

func (s *Redis) Get(ctx context.Context, sid string) (auth.Token, error) {
	b, err := s.client.Get(ctx, s.prefix+sid).Bytes()
	if errors.Is(err, redis.Nil) {
		return auth.Token{}, ErrNotFound
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("tokenstore: get: %w", err)
	}
	var t auth.Token
	if err := json.Unmarshal(b, &t); err != nil {
		return auth.Token{}, fmt.Errorf("tokenstore: decode: %w", err)
	}
	return t, nil
}

func (s *Redis) Put(ctx context.Context, sid string, t auth.Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("tokenstore: encode: %w", err)
	}
	if err := s.client.Set(ctx, s.prefix+sid, b, s.ttl).Err(); err != nil {
		return fmt.Errorf("tokenstore: put: %w", err)
	}
	return nil
}

func (s *Redis) Delete(ctx context.Context, sid string) error {
	if err := s.client.Del(ctx, s.prefix+sid).Err(); err != nil {
		return fmt.Errorf("tokenstore: delete: %w", err)
	}
	return nil
}
