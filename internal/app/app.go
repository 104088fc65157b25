// Package app wires twitchrelay together (config → stores → Twitch clients → hub → relay → web
// → http.Server) in one readable place. cmd/twitchrelay and the end-to-end tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/metrics"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/web"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Options are what the binary adds to the configuration.
type Options struct {
	Version     string
	Suggestions []string // streamer logins the form offers (the demo's simulated streamers)
	// SuggestionModerators are the moderators' logins of the suggested channels, by channel
	// login (the demo's simulated world), so the form can say which show follower events.
	SuggestionModerators map[string][]string
}

// App is one wired twitchrelay process.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	Hub     *hub.Hub
	Relay   *relay.Manager
	Web     *web.Server
	Metrics *metrics.Metrics
	closers []func()
	redis   *redis.Client
}

// New builds every part from cfg. Nothing listens yet; Serve does that.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (*App, error) {
	a := &App{cfg: cfg, log: log, Metrics: metrics.New()}
	logConfig(log, cfg)
	m := a.Metrics

	// Session, token, lifecycle and de-duplication state: in memory, or in Redis.
	sessions := scs.New()
	sessions.Lifetime, sessions.IdleTimeout = 30*24*time.Hour, 7*24*time.Hour
	sessions.Cookie.Name = "twitchrelay_session"
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	sessions.Cookie.Secure = cfg.Secure()
	var (
		tokens web.TokenStore
		state  relay.Store
		dedupe webhook.Deduper
		ready  = map[string]func(context.Context) error{}
	)
	if cfg.RedisURL != "" {
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rclient := redis.NewClient(ropt)
		a.redis = rclient
		a.closers = append(a.closers, func() { rclient.Close() })
		pool := &redigo.Pool{
			MaxIdle: 8, IdleTimeout: 4 * time.Minute,
			Dial: func() (redigo.Conn, error) {
				return redigo.DialURL(cfg.RedisURL, redigo.DialConnectTimeout(2*time.Second),
					redigo.DialReadTimeout(2*time.Second), redigo.DialWriteTimeout(2*time.Second))
			},
			TestOnBorrow: func(c redigo.Conn, t time.Time) error {
				if time.Since(t) < time.Minute {
					return nil
				}
				_, err := c.Do("PING")
				return err
			},
		}
		a.closers = append(a.closers, func() { pool.Close() })
		keys := store.NewKeys(cfg.RedisKeyPrefix)
		sessions.Store = redisstore.NewWithPrefix(pool, keys.Sessions())
		tokens = store.NewRedisTokens(rclient, keys, sessions.Lifetime)
		state = store.NewRedisRelay(rclient, keys)
		dedupe = store.NewRedisDedupe(rclient, keys, webhook.DedupeTTL)
		ready["redis"] = func(ctx context.Context) error { return rclient.Ping(ctx).Err() }
		if err := rclient.Ping(ctx).Err(); err != nil {
			log.Warn("redis not reachable yet; serving 503 where it is needed until it is", "err", err)
		}
	} else {
		sessions.Store = memstore.New()
		tokens = store.NewMemoryTokens(sessions.Lifetime, nil)
		state = store.NewMemoryRelay()
		dedupe = store.NewMemoryDedupe(store.MemoryDedupeConfig{TTL: webhook.DedupeTTL})
	}

	// Twitch.
	httpClient := &http.Client{Timeout: 15 * time.Second}
	authClient := auth.New(auth.Config{
		ClientID: cfg.TwitchClientID, ClientSecret: cfg.TwitchSecret,
		RedirectURL: cfg.PublicURL.String() + "/auth", OAuthBaseURL: cfg.TwitchOAuthURL,
		HTTPClient: httpClient, Logger: log,
	})
	appToken := authClient.AppTokenSource()
	helixClient := helix.New(helix.Config{
		BaseURL: cfg.TwitchHelixURL, ClientID: cfg.TwitchClientID, AppToken: appToken,
		HTTPClient: httpClient, Logger: log,
		Observe: m.HelixCall, OnRateLimitWait: m.RateLimitWait,
	})
	ready["twitch"] = func(ctx context.Context) error { _, err := appToken.Token(ctx); return err }

	// Hub and the subscription lifecycle.
	a.Hub = hub.New(hub.Config{HistorySize: cfg.HistorySize, HistoryAge: cfg.HistoryAge})
	a.Relay = relay.NewManager(relay.Config{
		PublicURL: cfg.PublicURL, ServerSecret: []byte(cfg.ServerSecret),
		Helix: helixClient, Hub: a.Hub, Store: state,
		Lease: cfg.SubscriptionLease, PollInterval: cfg.FollowingPoll, Logger: log,
		OnRelease: func(sid string) { // a lease ended: free what the process holds for it
			a.Hub.Release(sid)
			a.Web.ReleaseSession(sid)
		},
		OnStatus: m.FeedStatus,
		OnError:  func(op string, err error) { m.BackgroundError(op) },
	})
	m.GaugeFunc("sessions", "Relay sessions held by the hub (with sockets, history or state).", func() float64 { return float64(a.Hub.Stats().Sessions) })
	m.GaugeFunc("hub_subscribers", "Sockets subscribed to the hub.", func() float64 { return float64(a.Hub.Stats().Subscribers) })
	m.GaugeFunc("hub_history_frames", "Event frames kept for resume, all sessions.", func() float64 { return float64(a.Hub.Stats().Frames) })

	var metricsHandler http.Handler
	if cfg.MetricsAddr == "" {
		metricsHandler = m.Handler()
	}
	var err error
	a.Web, err = web.New(web.Options{
		Metrics: metricsHandler, Observer: m,
		Logger: log, PublicURL: cfg.PublicURL, Sessions: sessions, Tokens: tokens,
		Auth: authClient, Helix: helixClient, Relay: a.Relay, Hub: a.Hub,
		Webhooks:       &webhook.Verifier{ServerSecret: []byte(cfg.ServerSecret), Dedupe: dedupe},
		AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		Demo: cfg.Demo, Version: opt.Version, Suggestions: opt.Suggestions, Ready: ready,
		SuggestionModerators: opt.SuggestionModerators,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close releases what New opened (Serve calls it on the way out).
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// Serve reconciles subscriptions, serves on ln until ctx is done, then shuts down in order:
// stop taking requests, tell every socket "going away", settle subscriptions, close stores.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	defer a.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, log := a.cfg, a.log
	go a.Hub.Run(ctx)
	go a.Relay.Run(ctx)
	go a.Web.RunValidator(ctx)
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := a.Relay.Reconcile(rctx); err != nil {
		log.Warn("reconcile subscriptions at start-up", "err", err)
	}
	rcancel()

	var fresh newConns
	httpSrv := &http.Server{
		ConnState:         fresh.track,
		Handler:           a.Web.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) }, // sockets end via Hub.Close, with "going away"
	}
	errc := make(chan error, 2)
	go func() { errc <- httpSrv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		msrv := &http.Server{Addr: cfg.MetricsAddr, Handler: a.Metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := msrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
		defer msrv.Close()
		log.Info("metrics listening", "addr", cfg.MetricsAddr)
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL.String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer scancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- httpSrv.Shutdown(sctx) }()
	// Shutdown waits up to 5 s for connections that never sent a request (a client's spare
	// keep-alive dial); they hold nothing, so close them now.
	fresh.closeAll()
	if err := <-shutdown; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	a.Hub.Close() // hijacked sockets: Shutdown does not close them; "going away" makes clients reconnect
	if err := a.Web.Wait(sctx); err != nil {
		log.Warn("socket shutdown", "err", err)
	}
	if err := a.Relay.Shutdown(sctx, cfg.RedisURL != ""); err != nil {
		log.Warn("subscription shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// logConfig logs a redacted summary at start-up.
func logConfig(log *slog.Logger, cfg *config.Config) {
	redisURL := ""
	if cfg.RedisURL != "" {
		if u, err := url.Parse(cfg.RedisURL); err == nil {
			redisURL = u.Redacted()
		}
	}
	log.Info("config", "demo", cfg.Demo, "listen", cfg.ListenAddr, "public_url", cfg.PublicURL.String(),
		"twitch_client_id", cfg.TwitchClientID, "twitch_client_secret", redact(cfg.TwitchSecret),
		"server_secret", redact(cfg.ServerSecret), "redis", redisURL, "oauth_url", cfg.TwitchOAuthURL,
		"helix_url", cfg.TwitchHelixURL, "subscription_lease", cfg.SubscriptionLease.String(),
		"trusted_proxies", len(cfg.TrustedProxies))
}

func redact(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "(set)"
}

// newConns tracks connections that have not sent a request yet.
type newConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (n *newConns) track(c net.Conn, st http.ConnState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st == http.StateNew {
		if n.m == nil {
			n.m = map[net.Conn]struct{}{}
		}
		n.m[c] = struct{}{}
		return
	}
	delete(n.m, c)
}

func (n *newConns) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.m {
		c.Close()
	}
	clear(n.m)
}
