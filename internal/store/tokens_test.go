package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

type tokenStore interface {
	Get(ctx context.Context, sid string) (auth.Token, error)
	Put(ctx context.Context, sid string, t auth.Token) error
	Delete(ctx context.Context, sid string) error
}

func exerciseTokens(t *testing.T, s tokenStore) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Get unknown = %v, want ErrNoToken", err)
	}
	want := auth.Token{AccessToken: "a", RefreshToken: "r/%+", Expiry: time.Now().Add(time.Hour).Round(0).UTC(), Scopes: []string{"user:read:follows"}}
	if err := s.Put(ctx, "sid", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "sid")
	if err != nil || got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || !got.Expiry.Equal(want.Expiry) || len(got.Scopes) != 1 {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
	if err := s.Delete(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "sid"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after Delete: %v", err)
	}
}

// In memory, tokens expire like in Redis: a login never logged out costs nothing forever.
func TestMemoryTokens(t *testing.T) {
	clock := fakeclock.New(testNow)
	s := NewMemoryTokens(time.Hour, clock.Now)
	exerciseTokens(t, s)
	ctx := context.Background()
	if err := s.Put(ctx, "left-open", auth.Token{AccessToken: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "read-late", auth.Token{AccessToken: "y"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if _, err := s.Get(ctx, "left-open"); err != nil {
		t.Fatalf("Get before the TTL: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := s.Get(ctx, "read-late"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Get after the TTL = %v, want ErrNoToken", err)
	}
	// The next write sweeps: the token nobody read again is gone too.
	if err := s.Put(ctx, "new", auth.Token{AccessToken: "z"}); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("after the TTL and a write %d tokens are held, want 1 (the new one)", n)
	}
}

func TestRedisTokens(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	s := NewRedisTokens(c, NewKeys(prefix), time.Minute)
	exerciseTokens(t, s)
	if err := s.Put(context.Background(), "ttl", auth.Token{AccessToken: "x"}); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(context.Background(), prefix+"token:ttl").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL = %v, want the session lifetime", ttl)
	}
}

func TestRedisTokensDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	s := NewRedisTokens(c, NewKeys("x:"), time.Minute)
	if _, err := s.Get(context.Background(), "sid"); err == nil || errors.Is(err, ErrNoToken) {
		t.Fatalf("Get with Redis down = %v, want an error that is not ErrNoToken", err)
	}
	if err := s.Put(context.Background(), "sid", auth.Token{}); err == nil {
		t.Fatal("Put with Redis down succeeded")
	}
}
