package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// stack is the real relay (internal/app, the binary's wiring) and the real simulator on
// loopback, as internal/testing/apptest builds them, with two differences that a load run needs:
// logs go to io.Discard at LOG_LEVEL (apptest keeps every debug line in memory, which
// would grow without bound here), and the simulator's Helix bucket is large, because our
// thousands of "browsers" share ten seeded users where Twitch would see thousands of
// users with a bucket each.
type stack struct {
	sim         *twitchsim.Sim
	url, addr   string // the relay's base URL (= PUBLIC_URL) and listen address
	app         *app.App
	simSrv      *httptest.Server
	cancel      context.CancelFunc
	done        chan error
	redisURL    string
	redisPrefix string // a namespace of this stack's own, deleted by stop
}

// startStack starts a simulator and a relay; redisURL "" means in-memory mode.
func startStack(redisURL, logLevel string, logTo io.Writer) (*stack, error) {
	st := &stack{redisURL: redisURL, redisPrefix: fmt.Sprintf("relaybench:%d:", time.Now().UnixNano())}
	sim := twitchsim.New(twitchsim.Config{
		ClientID: client.ClientID, ClientSecret: client.ClientSecret, AllowInsecureCallbacks: true,
		RetryBackoff: time.Millisecond, RateLimitPoints: 1 << 30,
	})
	st.simSrv = httptest.NewServer(sim)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.simSrv.Close()
		sim.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	sim.SetRedirectURIs("http://" + addr + "/auth")
	env := map[string]string{
		"PUBLIC_URL": "http://" + addr, "TWITCH_CLIENT_ID": client.ClientID,
		"TWITCH_CLIENT_SECRET": client.ClientSecret, "SERVER_SECRET": client.ServerSecret,
		"TWITCH_OAUTH_URL": st.simSrv.URL + "/id/oauth2", "TWITCH_HELIX_URL": st.simSrv.URL + "/helix",
		"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": st.redisPrefix, "LOG_LEVEL": logLevel, "SHUTDOWN_TIMEOUT": "5s",
		// The fleet is thousands of sessions of a few simulated accounts: not one person's
		// streamer changes, so not throttled like them.
		"STREAMER_CHANGES_PER_MINUTE": "1000000",
		// The harness is one address opening thousands of sockets on purpose: lift the caps
		// a real deployment keeps (docs/SECURITY.md, "Bounds under abuse").
		"WS_MAX_PER_SESSION": "1048576", "WS_MAX_PER_IP": "1048576",
		// Chat highlights go over each user's Twitch WebSocket session: the simulator's.
		"TWITCH_EVENTSUB_WS_URL": "ws" + strings.TrimPrefix(st.simSrv.URL, "http") + "/ws",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		ln.Close()
		st.simSrv.Close()
		sim.Close()
		return nil, fmt.Errorf("config: %w", err)
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(logLevel))
	if logTo == nil {
		logTo = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: lv}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, ln, app.Options{Version: "relaybench"}) // a.Close closes ln
	if err != nil {
		cancel()
		st.simSrv.Close()
		sim.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	st.cancel, st.done = cancel, make(chan error, 1)
	go func() { st.done <- a.Serve(ctx) }()
	st.sim, st.url, st.addr, st.app = sim, "http://"+addr, addr, a
	return st, nil
}

// stop shuts the relay down as SIGTERM would, then the simulator; bounded.
func (st *stack) stop() error {
	st.cancel()
	var err error
	select {
	case err = <-st.done:
	case <-time.After(20 * time.Second):
		err = fmt.Errorf("relay did not stop within 20s")
	}
	st.sim.Close()
	st.simSrv.Close()
	if st.redisURL != "" {
		if cerr := cleanRedis(st.redisURL, st.redisPrefix); err == nil {
			err = cerr
		}
	}
	return err
}

// cleanRedis deletes the keys under prefix (bounded).
func cleanRedis(raw, prefix string) error {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// host is the relay under load as the fleet sees it: one in-process relay (stack) or
// several relay processes behind a balancer (procStack, broker mode).
type host interface {
	simUsers() ([]twitchsim.User, error)
	simSubscriptions() ([]eventsub.Subscription, error)
	// browser is browser g's: its socket goes to instance inst (g modulo the instances).
	browser(g int) (b *client.Browser, inst int)
	publicURL() string
	socketAddr(inst int) string // host:port of instance inst
	instances() int
	// callbackAt is a callback URL (PUBLIC_URL/callback/...) sent straight to instance inst.
	callbackAt(callback string, inst int) string
}

func (st *stack) simUsers() ([]twitchsim.User, error) { return st.sim.Users(), nil }
func (st *stack) simSubscriptions() ([]eventsub.Subscription, error) {
	return st.sim.Subscriptions(), nil
}
func (st *stack) browser(int) (*client.Browser, int)       { return client.NewBrowser(st.url, st.addr), 0 }
func (st *stack) publicURL() string                        { return st.url }
func (st *stack) socketAddr(int) string                    { return st.addr }
func (st *stack) instances() int                           { return 1 }
func (st *stack) callbackAt(callback string, _ int) string { return callback }
