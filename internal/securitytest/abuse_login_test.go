package securitytest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// anonymousVisits sends n anonymous GET / and GET /login from 4 goroutines, each without a
// cookie, and fails on anything but 200 and 302.
func anonymousVisits(t *testing.T, h *apptest.Harness, n int) time.Duration {
	t.Helper()
	start := time.Now()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for i := g; i < n; i += 4 {
				path := []string{"/", "/login"}[i%2]
				resp, err := c.Get(h.URL + path)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusFound {
					errs <- &statusErr{path, resp.StatusCode}
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

type statusErr struct {
	path string
	code int
}

func (e *statusErr) Error() string { return e.path + ": unexpected status " + http.StatusText(e.code) }

// TestAnonymousVisitorsStoreNoSession: 2,000 anonymous GET / and GET /login (each /login a
// pending OAuth login) store no server-side session, in memory or in Redis; a person who logs
// in meanwhile gets one session and reaches the stream page.
func TestAnonymousVisitorsStoreNoSession(t *testing.T) {
	for _, mode := range []string{"memory", "redis"} {
		t.Run(mode, func(t *testing.T) {
			opt := apptest.Options{}
			if mode == "redis" {
				opt.RedisURL = apptest.RedisURL(t)
			}
			h := apptest.Start(t, opt)
			stored := func() int {
				if mode == "memory" {
					return h.App.StoredSessions()
				}
				return redisSessionKeys(t, opt.RedisURL)
			}
			before := stored()
			took := anonymousVisits(t, h, 2000)
			anon := stored() - before
			_, s, sid := watcher(t, h, "quietquinn", "pixelpaladin")
			after := stored() - before
			t.Logf("observed (%s): 2,000 anonymous visits in %v stored %d sessions; one login then %d", mode, took.Round(time.Millisecond), anon, after)
			if anon != 0 {
				t.Errorf("%d sessions stored for anonymous visitors, want 0", anon)
			}
			if after != 1 {
				t.Errorf("%d sessions after one login, want 1", after)
			}
			sub := subscriptionOf(t, h, sid, "channel.update")
			if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "anon-1", Body: updateBody(sub, "logged in")})); a.Status != http.StatusNoContent {
				t.Fatalf("callback: %d", a.Status)
			}
			expectTitle(t, s, "logged in")
		})
	}
}

// redisSessionKeys counts the cookie-session keys of every harness in the Redis at url.
func redisSessionKeys(t *testing.T, url string) int {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	iter := c.Scan(ctx, 0, "test:*"+t.Name()[:len("TestAnonymousVisitorsStoreNoSession")]+"*session:*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
