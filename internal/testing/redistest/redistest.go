// Package redistest gives tests the real Redis at REDIS_URL (default redis://127.0.0.1:6379/0).
// Without a reachable Redis a test fails when CI is set and skips, saying how to enable it,
// elsewhere.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns REDIS_URL after checking that Redis answers.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = DefaultURL
	}
	opt, err := redis.ParseURL(u)
	if err == nil {
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		c.Close()
	}
	if err != nil {
		msg := fmt.Sprintf("Redis at %s is not reachable (%v): start redis-server or set REDIS_URL to run this test", u, err)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg + " (required in CI)")
		}
		tb.Skip(msg)
	}
	return u
}

// Client returns a client on URL(tb), closed when the test ends.
func Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	opt, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}

// Prefix is a key prefix unique to the test; its keys are deleted when the test ends.
func Prefix(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	p := "twitchrelay:test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}

// Down returns a client of a Redis that is not there (a closed loopback port), failing fast
// and closed when the test ends: every call is an error.
func Down(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	tb.Cleanup(func() { c.Close() })
	return c
}
