package tokenstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/tokenstore"
)

func exercise(t *testing.T, s tokenstore.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Get unknown = %v, want ErrNotFound", err)
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
	if _, err := s.Get(ctx, "sid"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

func TestMemory(t *testing.T) { exercise(t, tokenstore.NewMemory()) }

func TestRedis(t *testing.T) {
	opt, err := redis.ParseURL(apptest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	prefix := fmt.Sprintf("test:tokenstore:%d:", time.Now().UnixNano())
	s := tokenstore.NewRedis(c, prefix, time.Minute)
	exercise(t, s)
	if err := s.Put(context.Background(), "ttl", auth.Token{AccessToken: "x"}); err != nil {
		t.Fatal(err)
	}
	if ttl := c.TTL(context.Background(), prefix+"ttl").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL = %v, want the session lifetime", ttl)
	}
	c.Del(context.Background(), prefix+"ttl")
}

func TestRedisDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	s := tokenstore.NewRedis(c, "x:", time.Minute)
	if _, err := s.Get(context.Background(), "sid"); err == nil || errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Get with Redis down = %v, want an error that is not ErrNotFound", err)
	}
	if err := s.Put(context.Background(), "sid", auth.Token{}); err == nil {
		t.Fatal("Put with Redis down succeeded")
	}
}
