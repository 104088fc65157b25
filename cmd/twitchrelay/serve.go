package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
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
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/tokenstore"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/web"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// serve wires everything top to bottom (config → logger → stores → Twitch clients → hub →
// relay → web → http.Server) and serves until ctx is done, then shuts down in order.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, h hooks) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	defer ln.Close()

	var sim *twitchsim.Sim
	if cfg.Demo {
		var stopSim func()
		sim, stopSim, err = startDemoTwitch(ctx, cfg, ln.Addr().(*net.TCPAddr), log)
		if err != nil {
			return err
		}
		defer stopSim()
		if h.onDemo != nil {
			h.onDemo(sim)
		}
	}
	logConfig(log, cfg)

	// Session, token, lifecycle and de-duplication state: in memory, or in Redis.
	sessions := scs.New()
	sessions.Lifetime, sessions.IdleTimeout = 30*24*time.Hour, 7*24*time.Hour
	sessions.Cookie.Name = "twitchrelay_session"
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	sessions.Cookie.Secure = cfg.Secure()
	var (
		tokens  tokenstore.Store
		store   relay.Store
		dedupe  webhook.Deduper
		ready   = map[string]func(context.Context) error{}
		rclient *redis.Client
	)
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rclient = redis.NewClient(opt)
		defer rclient.Close()
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
		defer pool.Close()
		sessions.Store = redisstore.NewWithPrefix(pool, "twitchrelay:session:")
		tokens = tokenstore.NewRedis(rclient, "twitchrelay:token:", sessions.Lifetime)
		store = relay.NewRedisStore(rclient, relay.DefaultRedisPrefix)
		dedupe = webhook.NewRedisDeduper(rclient, webhook.DefaultRedisDedupePrefix, webhook.DefaultDedupeTTL)
		ready["redis"] = func(ctx context.Context) error { return rclient.Ping(ctx).Err() }
		if err := rclient.Ping(ctx).Err(); err != nil {
			log.Warn("redis not reachable yet; serving 503 where it is needed until it is", "err", err)
		}
	} else {
		sessions.Store = memstore.New()
		tokens = tokenstore.NewMemory()
		store = relay.NewMemoryStore()
		dedupe = webhook.NewMemoryDeduper(webhook.MemoryDedupeConfig{})
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
	})
	ready["twitch"] = func(ctx context.Context) error { _, err := appToken.Token(ctx); return err }

	// Hub and the subscription lifecycle.
	events := hub.New(hub.Config{HistorySize: cfg.HistorySize, HistoryAge: cfg.HistoryAge})
	go events.Run(ctx)
	sink := web.HubSink{Hub: events, Logger: log}
	manager := relay.NewManager(relay.Config{
		PublicURL: cfg.PublicURL, ServerSecret: []byte(cfg.ServerSecret),
		Helix: helixClient, Sink: sink, Store: store, Dedupe: dedupe,
		Lease: cfg.SubscriptionLease, Logger: log,
		OnRelease: events.Release,
	})
	go manager.Run(ctx)
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := manager.Reconcile(rctx); err != nil {
		log.Warn("reconcile subscriptions at start-up", "err", err)
	}
	rcancel()

	var suggestions []string
	if sim != nil {
		suggestions = demoSuggestions(sim)
	}
	srv, err := web.New(web.Options{
		Logger: log, PublicURL: cfg.PublicURL, Sessions: sessions, Tokens: tokens,
		Auth: authClient, Helix: helixClient, Relay: manager, Hub: events,
		AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		Demo: cfg.Demo, Version: version, Suggestions: suggestions, Ready: ready,
	})
	if err != nil {
		return err
	}
	go srv.RunValidator(ctx)

	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL.String(), "version", version)
	if cfg.Demo {
		fmt.Fprintf(stdout, "\n  twitchrelay demo is running: open %s\n  (Twitch is simulated; press Ctrl-C to stop)\n\n", cfg.PublicURL)
	}
	if h.onListen != nil {
		h.onListen(base)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer scancel()
	if err := httpSrv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	events.Close() // hijacked sockets: Shutdown does not close them; "going away" makes clients reconnect
	if err := manager.Shutdown(sctx, cfg.RedisURL != ""); err != nil {
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
