package securitytest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// tcpProxy forwards a loopback port to Redis; Down closes the listener and every connection
// (Redis gone), Up listens again on the same port (Redis back).
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	p.Up(t)
	t.Cleanup(p.Down)
	return p
}

func (p *tcpProxy) Up(t testing.TB) {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestRedisDownAndBack: with Redis (through a proxy) gone, pages answer 503 with the
// session-store page, /readyz says 503 naming redis, callbacks answer 503 so Twitch retries,
// and the open socket stays open; when Redis is back everything recovers by itself, and the
// notification Twitch kept retrying is delivered once.
func TestRedisDownAndBack(t *testing.T) {
	ropt, _ := redis.ParseURL(redisDB(t, 13))
	proxy := newTCPProxy(t, ropt.Addr)
	opt, simLogs := patientSim(t)
	opt.RedisURL = "redis://" + proxy.addr + "/13"
	h := apptest.Start(t, opt)
	b, s, _ := watcher(t, h, "modmaria", "pixelpaladin")
	cookie := cookieHeader(h, b)

	proxy.Down()
	page := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/stream", nil)), cookie))
	if page.Status != http.StatusServiceUnavailable || !strings.Contains(page.Body, "can&#39;t reach our session store") {
		t.Errorf("/stream with Redis down: %d %.300q", page.Status, page.Body)
	}
	checkHeaders(t, "session-store error page", page)
	ready := do(t, must(http.NewRequest(http.MethodGet, h.URL+"/readyz", nil)))
	if ready.Status != http.StatusServiceUnavailable || !strings.Contains(ready.Body, `"redis"`) {
		t.Errorf("/readyz with Redis down: %d %s", ready.Status, ready.Body)
	}
	// Twitch sends an event now: our dedupe store is down, so we answer 503 and Twitch retries.
	type result struct {
		ds  []twitchsim.Delivery
		err error
	}
	retried := make(chan result, 1)
	go func() {
		ds, err := h.Sim.UpdateChannel(context.Background(), "pixelpaladin", "during the outage", "")
		retried <- result{ds, err}
	}()
	apptest.Wait(t, waitFor, "a delivery refused with 503 while Redis is down", func() bool {
		return strings.Contains(h.Logs.String(), `"status":503`) && strings.Contains(simLogs.String(), "callback answered 503")
	})

	proxy.Up(t)
	r := <-retried
	if r.err != nil || len(r.ds) != 1 || r.ds[0].Status != http.StatusNoContent || r.ds[0].Attempts < 2 {
		t.Fatalf("the retried delivery: %+v %v", r.ds, r.err)
	}
	expectTitle(t, s, "during the outage") // on the socket that stayed open, once
	apptest.Wait(t, waitFor, "/readyz 200 again", func() bool {
		return do(t, must(http.NewRequest(http.MethodGet, h.URL+"/readyz", nil))).Status == http.StatusOK
	})
	apptest.Wait(t, waitFor, "/stream 200 again with the same cookie", func() bool {
		return do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/stream", nil)), cookie)).Status == http.StatusOK
	})
	h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "after the outage", "")
	expectTitle(t, s, "after the outage")
	t.Logf("observed: page 503 + session-store page, /readyz 503 %s, callback 503 then accepted on Twitch's retry %d (delivered once), socket kept, recovered alone",
		strings.TrimSpace(ready.Body), r.ds[0].Attempts)
}

// TestRestartBetweenEvents: with Redis, the relay restarts between two events and Twitch's
// delivery of the second arrives while it is down. The user keeps the session (same cookie),
// the socket is told 1001 and resumes, and nothing is missed.
func TestRestartBetweenEvents(t *testing.T) {
	opt, simLogs := patientSim(t)
	opt.RedisURL = redisDB(t, 14)
	h := apptest.Start(t, opt)
	b, s, _ := watcher(t, h, "modmaria", "pixelpaladin")
	h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "before", "")
	expectTitle(t, s, "before")

	h.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = s.Next(ctx)
	}
	sent := make(chan []twitchsim.Delivery, 1)
	go func() {
		ds, _ := h.Sim.UpdateChannel(context.Background(), "pixelpaladin", "while down", "")
		sent <- ds
	}()
	apptest.Wait(t, waitFor, "Twitch failing to reach the stopped relay", func() bool {
		return strings.Contains(simLogs.String(), "connection refused")
	})
	h2 := h.Restart()
	ds := <-sent
	if len(ds) != 1 || ds[0].Status != http.StatusNoContent {
		t.Fatalf("delivery across the restart: %+v", ds)
	}
	if status, body, err := b.Get("/stream"); err != nil || status != http.StatusOK || !strings.Contains(body, "PixelPaladin") {
		t.Fatalf("same cookie after restart: %d %v", status, err)
	}
	s2, err2 := b.Connect(ctx, s.Epoch, s.LastSeq)
	if err2 != nil {
		t.Fatal(err2)
	}
	defer s2.Close()
	expectTitle(t, s2, "while down")
	h2.Sim.UpdateChannel(ctx, "pixelpaladin", "after", "")
	expectTitle(t, s2, "after")
	t.Logf("observed: old socket ended with %v; Twitch's delivery during the restart took %d attempts (first: connection refused), delivered once after resume; cookie kept", err, ds[0].Attempts)
}

// redisDB returns a URL of the test Redis on database db, emptied first. Databases 13-15
// belong to this package: on database 0, sessions that other tests stored are adopted by every
// relay that starts (Reconcile re-subscribes them), which would add foreign deliveries.
func redisDB(t testing.TB, db int) string {
	t.Helper()
	opt, err := redis.ParseURL(apptest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = db
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("redis://%s/%d", opt.Addr, db)
}

func withCookie(r *http.Request, c string) *http.Request {
	r.Header.Set("Cookie", c)
	return r
}
