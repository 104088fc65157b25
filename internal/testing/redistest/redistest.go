// Package redistest gives tests the real Redis at REDIS_URL (default redis://127.0.0.1:6379/0).
// Without a reachable Redis a test fails when CI is set and skips, saying how to enable it,
// elsewhere.
package redistest

import (
	"context"
	"fmt"
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
