package securitytest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// TestSessionIDsAreUnguessable logs in 1,000 times and reads the relay session ids back from
// where the relay keeps each session's Twitch token in Redis (key <prefix>token:<id>, on
// a Redis database of its own): each must be 32 lowercase hex characters (128 bits), all
// distinct, with the 16 hex digits evenly used.
func TestSessionIDsAreUnguessable(t *testing.T) {
	base := apptest.RedisURL(t)
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = 15 // this test's own database: other tests and packages use 0
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	url := strings.TrimSuffix(base, "/0")
	if i := strings.LastIndex(url, "/"); i > len("redis://") {
		url = url[:i]
	}
	url += "/15"
	ctx := context.Background()
	before := tokenKeys(t, rdb)
	h := apptest.Start(t, apptest.Options{RedisURL: url})
	const logins, workers = 1000, 4
	users := []string{"lurker_lou", "modmaria", "chatterbox42", "h4x0r", "quietquinn", "gamergrace", "pixelpaladin", "cozycrafter"}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < logins; i += workers {
				if err := h.NewBrowser().Login(users[i%len(users)]); err != nil {
					t.Errorf("login %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	var ids []string
	for k := range tokenKeys(t, rdb) {
		if !before[k] {
			ids = append(ids, k[strings.LastIndex(k, "token:")+len("token:"):])
		}
	}
	t.Cleanup(func() { // the relay keeps tokens 30 days: leave Redis as we found it
		if keys, err := rdb.Keys(ctx, "*").Result(); err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...) // database 15 is this test's own
		}
	})
	if len(ids) != logins {
		t.Fatalf("%d new session ids after %d logins, want one each (all distinct)", len(ids), logins)
	}
	var digits [16]int
	for _, id := range ids {
		if len(id) != 32 {
			t.Fatalf("session id %q is not 32 characters", id)
		}
		for _, c := range id {
			d := strings.IndexRune("0123456789abcdef", c)
			if d < 0 {
				t.Fatalf("session id %q is not lowercase hex", id)
			}
			digits[d]++
		}
	}
	want := logins * 32 / 16 // 2000 per digit; σ ≈ 43
	for d, n := range digits {
		if n < want-300 || n > want+300 {
			t.Errorf("hex digit %x used %d times in %d ids, want %d±300", d, n, logins, want)
		}
	}
	t.Logf("observed: %d logins in %v, %d distinct 32-hex ids, digit counts %v", logins, took.Round(time.Millisecond), len(ids), digits)
}

func tokenKeys(t testing.TB, rdb *redis.Client) map[string]bool {
	keys, err := rdb.Keys(context.Background(), "*token:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}
