// Package apptest starts the real twitchrelay (internal/app) against the real Twitch simulator,
// both on loopback HTTP listeners, for end-to-end tests, the soak test and the load harness.
// Browser drives it like a person would: cookie jar, the simulator's consent form, the
// streamer form, and the stream page's WebSocket.
package apptest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Test credentials (internal/testing/client's): not the simulator's defaults, which real
// mode refuses.
const (
	ClientID     = client.ClientID
	ClientSecret = client.ClientSecret
	ServerSecret = client.ServerSecret
)

// Options change the relay under test.
type Options struct {
	RedisURL string        // "" = in-memory sessions and state
	Lease    time.Duration // SUBSCRIPTION_LEASE; 0 = the default
	Env      map[string]string
	Sim      *twitchsim.Sim // reuse a simulator (restart tests); nil = a new one
	SimURL   string
	Addr     string // listen address; "" = 127.0.0.1:0
	Clock    *Clock // with Sim: that simulator's clock
	Logs     io.Writer
	App      app.Options // what the binary would add (suggestions; a token store to test with)
	// WebSocket runs the relay with EVENTSUB_TRANSPORT=websocket against the simulator's
	// EventSub WebSocket server, both counting Twitch's seconds in WSSecond, the keepalive
	// timeout asked for being WSKeepalive of them unless App.EventSubKeepalive says otherwise.
	WebSocket bool

	redisPrefix string
}

// The EventSub WebSocket timing of a WebSocket harness: a Twitch second is WSSecond, so the
// keepalive timeout is 6 s, the subscribe window too, the reconnect grace 3 s.
const (
	WSSecond    = 100 * time.Millisecond
	WSKeepalive = 60
)

// Harness is a running relay plus its simulated Twitch.
type Harness struct {
	tb     testing.TB
	Sim    *twitchsim.Sim
	SimURL string
	URL    string // the relay's base URL (= PUBLIC_URL)
	Addr   string
	App    *app.App
	Logs   *SyncBuffer
	Clock  *Clock // the simulator's clock: Advance it to expire tokens
	opt    Options
	cancel context.CancelFunc
	done   chan error
}

// Start runs a relay and (unless opt.Sim is set) a simulator; both stop at test cleanup.
func Start(tb testing.TB, opt Options) *Harness {
	tb.Helper()
	h := &Harness{tb: tb, Logs: &SyncBuffer{}, Clock: opt.Clock}
	defer func() { h.opt = opt }()
	if h.Clock == nil {
		h.Clock = &Clock{}
	}
	if opt.Sim != nil {
		h.Sim, h.SimURL = opt.Sim, opt.SimURL
	} else {
		h.Sim = twitchsim.New(twitchsim.Config{
			ClientID: ClientID, ClientSecret: ClientSecret, AllowInsecureCallbacks: true,
			RetryBackoff: time.Millisecond, Now: h.Clock.Now, WSSecond: WSSecond,
		})
		srv := httptest.NewServer(h.Sim)
		h.SimURL = srv.URL
		tb.Cleanup(func() { h.Sim.Close(); srv.Close() })
	}
	addr := opt.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("apptest: listen: %v", err)
	}
	h.Addr = ln.Addr().String()
	h.URL = "http://" + h.Addr
	h.Sim.SetRedirectURIs(h.URL + "/auth")
	env := map[string]string{
		"PUBLIC_URL": h.URL, "TWITCH_CLIENT_ID": ClientID, "TWITCH_CLIENT_SECRET": ClientSecret,
		"SERVER_SECRET": ServerSecret, "TWITCH_OAUTH_URL": h.SimURL + "/id/oauth2",
		"TWITCH_HELIX_URL": h.SimURL + "/helix", "REDIS_URL": opt.RedisURL, "LOG_LEVEL": "debug",
		"SHUTDOWN_TIMEOUT": "5s",
	}
	if opt.RedisURL != "" {
		if opt.redisPrefix == "" { // one namespace per harness, kept across Restart
			opt.redisPrefix = fmt.Sprintf("test:%d:%s:", time.Now().UnixNano(), strings.ReplaceAll(tb.Name(), "/", "_"))
			tb.Cleanup(func() { deleteKeys(opt.RedisURL, opt.redisPrefix) })
		}
		env["REDIS_KEY_PREFIX"] = opt.redisPrefix
	}
	if opt.Lease > 0 {
		env["SUBSCRIPTION_LEASE"] = opt.Lease.String()
	}
	if opt.WebSocket {
		env["EVENTSUB_TRANSPORT"] = "websocket"
		env["TWITCH_EVENTSUB_WS_URL"] = "ws" + strings.TrimPrefix(h.SimURL, "http") + "/ws"
	}
	for k, v := range opt.Env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		ln.Close()
		tb.Fatalf("apptest: config: %v", err)
	}
	var logw io.Writer = h.Logs
	if opt.Logs != nil {
		logw = io.MultiWriter(h.Logs, opt.Logs)
	}
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	aopt := opt.App
	aopt.Version = "test"
	if opt.WebSocket {
		aopt.EventSubSecond = WSSecond
		if aopt.EventSubKeepalive == 0 {
			aopt.EventSubKeepalive = WSKeepalive
		}
	}
	a, err := app.New(ctx, cfg, log, ln, aopt) // a.Close closes ln
	if err != nil {
		cancel()
		tb.Fatalf("apptest: app: %v", err)
	}
	h.App, h.cancel, h.done = a, cancel, make(chan error, 1)
	go func() { h.done <- a.Serve(ctx) }()
	tb.Cleanup(func() { h.Stop() })
	return h
}

// Stop shuts the relay down (as SIGTERM would) and waits for it; safe to call twice.
func (h *Harness) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.tb.Errorf("apptest: serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.tb.Errorf("apptest: relay did not stop within 20s")
	}
}

// Restart stops the relay and starts a new process on the same address, simulator and Redis.
func (h *Harness) Restart() *Harness {
	h.Stop()
	opt := h.opt
	opt.Sim, opt.SimURL, opt.Addr, opt.Clock = h.Sim, h.SimURL, h.Addr, h.Clock
	return Start(h.tb, opt)
}

// RedisURL returns REDIS_URL after checking Redis answers (internal/redistest): unreachable
// Redis fails the test in CI and skips it elsewhere.
func RedisURL(tb testing.TB) string { return redistest.URL(tb) }

// Clock is real time plus an offset that tests advance (internal/testing/fakeclock).
type Clock = fakeclock.Offset

// SyncBuffer is a bytes.Buffer safe for concurrent writes (the logs).
type SyncBuffer = syncbuf.Buffer

// Wait polls cond until it holds or the deadline passes; for state that has no channel to
// wait on (the simulator's subscription list), with a short fixed tick, never a bare sleep.
func Wait(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// WaitSettled waits until the simulator has no subscription waiting for its challenge
// answer: our side may call a feed active a moment before Twitch enables it.
func (h *Harness) WaitSettled(tb testing.TB) {
	tb.Helper()
	Wait(tb, 10*time.Second, "subscriptions verified", func() bool {
		for _, s := range h.Sim.Subscriptions() {
			if s.Status == "webhook_callback_verification_pending" {
				return false
			}
		}
		return true
	})
}

// deleteKeys removes a harness's Redis namespace.
func deleteKeys(redisURL, prefix string) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// Browser, Socket and their frames are internal/testing/client's, which the load harness
// shares.
type (
	Browser = client.Browser
	Socket  = client.Socket
	Frame   = client.Frame
	Event   = client.Event
	Feed    = client.Feed
)

// MaxResumes bounds a resuming socket's reconnects (Socket.ResumeOnClose) in a test.
const MaxResumes = client.MaxResumes

// NewBrowser returns a browser of this relay with an empty cookie jar.
func (h *Harness) NewBrowser() *Browser { return client.NewBrowser(h.URL, h.Addr) }

// Watch is a person arriving on the stream page: log in as login, choose streamer, connect
// the stream socket, and wait until no feed is pending any more (every subscription created
// or refused) and the stream and profile feeds are active. The socket
// closes when the test ends.
func (h *Harness) Watch(tb testing.TB, login, streamer string) (*Browser, *Socket) {
	tb.Helper()
	b := h.NewBrowser()
	if err := b.Login(login); err != nil {
		tb.Fatal(err)
	}
	if status, body, err := b.ChooseStreamer(streamer); err != nil || status != http.StatusOK {
		tb.Fatalf("choose %s = %d %v\n%.300s", streamer, status, err, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	if _, err := s.WaitFeeds(ctx, func(f map[string]Feed) bool {
		for _, fd := range f {
			if fd.Status == "pending" {
				return false
			}
		}
		return len(f) == 4 && f["stream_changed"].Status == "active" && f["user_changed"].Status == "active"
	}); err != nil {
		tb.Fatalf("feeds never became active: %v", err)
	}
	return b, s
}
