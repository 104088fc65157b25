// Package app wires twitchrelay together in one readable place, top to bottom: config →
// stores → Twitch clients (or, with -demo, the simulator) → hub → relay → web → http.Server
// (New); then runs every part, each goroutine owned by one errgroup, and shuts them down in
// order (Serve). cmd/twitchrelay, the end-to-end tests and cmd/relaybench all use it.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	redigo "github.com/gomodule/redigo/redis"
	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/broker"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/eventsubws"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/lock"
	"github.com/twitchrelay/twitchrelay/internal/metrics"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/web"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Fixed limits and timeouts of the wiring, in one place. They are not configuration: the
// defaults of everything configurable are internal/config's.
const (
	sessionLifetime    = 30 * 24 * time.Hour // a login lasts a month,
	sessionIdleTimeout = 7 * 24 * time.Hour  // or a week without a visit
	sessionCookieName  = "twitchrelay_session"
	sessionSweepEvery  = time.Minute // expired in-memory sessions are forgotten this often

	twitchHTTPTimeout   = 15 * time.Second // one call to Twitch (or the simulator)
	reconcileTimeout    = 30 * time.Second // the start-up reconcile of subscriptions
	reconcileLockMargin = 5 * time.Second  // its lock outlives it by this much (one reconcile at a time)

	readHeaderTimeout = 10 * time.Second // every http.Server: main, metrics, the demo's simulator
	readTimeout       = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10

	redisMaxIdle      = 8               // the session store's redigo pool (at most REDIS_POOL_SIZE)
	redisPoolWait     = 2 * time.Second // a request waits this long, at most, for a pooled connection
	redisIdleTimeout  = 4 * time.Minute
	redisIOTimeout    = 2 * time.Second // dial, read and write
	redisPingIdleOver = time.Minute     // a pooled connection idle longer is pinged before use
)

// Options are what the binary adds to the configuration.
type Options struct {
	Version     string
	Suggestions []string // streamer logins the form offers (the demo adds its simulated streamers)
	// SuggestionModerators are the moderators' logins of the suggested channels, by channel
	// login (the demo adds its simulated world's), so the form can say which show follower
	// events.
	SuggestionModerators map[string][]string
	// Tokens replaces the token store the configuration picks (tests: one that fails).
	Tokens web.TokenStore
	// EventSubSecond is Twitch's second for the EventSub WebSocket client (tests: the
	// simulator's WSSecond); EventSubKeepalive the keepalive_timeout_seconds it asks for.
	// 0 = a real second, Twitch's default.
	EventSubSecond    time.Duration
	EventSubKeepalive int
	// HelloTimeout and TokenIdle replace the socket's wait for stream_connected (30 s, the
	// protocol's) and the idle time after which a cached token source is dropped (the
	// session idle timeout): tests shorten them. 0 = those.
	HelloTimeout, TokenIdle time.Duration
	// TokenClock is the clock TokenIdle is measured on (tests: a settable one); nil = time.Now.
	TokenClock func() time.Time
}

// App is one wired twitchrelay process.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	Hub     *hub.Hub
	Relay   *relay.Manager
	Web     *web.Server
	Metrics *metrics.Metrics
	// TwitchWS is the users' Twitch EventSub WebSocket sessions (used by every event type
	// whose transport is websocket).
	TwitchWS *eventsubws.Pool
	closers  []func()

	http        *httpServer
	metricsHTTP *httpServer    // nil unless METRICS_ADDR
	sessions    *memSessions   // nil with Redis
	broker      *broker.Broker // nil without Redis: the hub alone numbers events
	locks       *lock.Redis    // nil without Redis: one process owns all the work
	shares      *lock.Shares   // the share registry, on the callbacks' pool (nil without Redis)
	claims      *lock.Claims   // which instance runs each relay session (with Redis)
	demo        *demoTwitch    // nil unless -demo
}

// New builds every part from cfg, to serve on ln (which the App now owns). Nothing is served
// yet; Serve does that. With cfg.Demo, Twitch is the simulator, started here on a loopback
// port of its own; New works on a copy of cfg, so the caller's stays as it was.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, ln net.Listener, opt Options) (_ *App, err error) {
	c := *cfg
	cfg = &c
	a := &App{cfg: cfg, log: log, Metrics: metrics.New()}
	a.closers = append(a.closers, func() { ln.Close() })
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	m := a.Metrics

	// Twitch in the demo: the simulator. It sets the credentials, URLs and PUBLIC_URL.
	if cfg.Demo {
		if a.demo, err = newDemoTwitch(cfg, ln.Addr(), log); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.demo.close)
		opt.Suggestions = append(opt.Suggestions, a.demo.suggestions()...)
		opt.SuggestionModerators = a.demo.sim.ModeratorLogins()
	}
	logConfig(log, cfg)

	// Session, token, lifecycle and de-duplication state: in memory, or in Redis.
	sessions := newSessionManager(cfg.Secure())
	var (
		tokens web.TokenStore
		state  relay.Store
		dedupe webhook.Deduper
		ready  = map[string]func(context.Context) error{}
		// STREAMER_CHANGES_PER_MINUTE's buckets: shared by every instance with Redis.
		streamerThrottle web.Throttle
	)
	if cfg.RedisURL != "" {
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		keys := store.NewKeys(cfg.RedisKeyPrefix)
		// Both pools are bounded: a burst of requests waits for a connection (within its
		// context, at most redisPoolWait) instead of opening one each until Redis refuses.
		ropt.PoolSize, ropt.PoolTimeout = cfg.RedisPoolSize, redisPoolWait
		if ropt.ClientName == "" {
			ropt.ClientName = redisClientName("state", cfg.RedisKeyPrefix)
		}
		rclient := redis.NewClient(ropt)
		a.closers = append(a.closers, func() { rclient.Close() })
		pool := &redigo.Pool{
			MaxIdle: min(redisMaxIdle, cfg.RedisPoolSize), IdleTimeout: redisIdleTimeout,
			MaxActive: cfg.RedisPoolSize, Wait: true, // callers are admitted with the request's context first (redisSessions)
			Dial: func() (redigo.Conn, error) {
				return redigo.DialURL(cfg.RedisURL, redigo.DialConnectTimeout(redisIOTimeout),
					redigo.DialReadTimeout(redisIOTimeout), redigo.DialWriteTimeout(redisIOTimeout),
					redigo.DialClientName(redisClientName("sessions", cfg.RedisKeyPrefix)))
			},
			TestOnBorrow: func(c redigo.Conn, t time.Time) error {
				if time.Since(t) < redisPingIdleOver {
					return nil
				}
				_, err := c.Do("PING")
				return err
			},
		}
		a.closers = append(a.closers, func() { pool.Close() })
		sessions.Store = newRedisSessions(pool, keys.Sessions())
		tokens = store.NewRedisTokens(rclient, keys, sessions.Lifetime)
		state = store.NewRedisRelay(rclient, keys)
		// The callbacks' own pool: every webhook marks its message id and reads the shared
		// subscription's receivers (share registry), 64 at a time under load; queued behind
		// the state pool's requests they waited 1-3 ms each for a connection (issue 17).
		copt := *ropt
		copt.ClientName = redisClientName("callbacks", cfg.RedisKeyPrefix)
		cclient := redis.NewClient(&copt)
		a.closers = append(a.closers, func() { cclient.Close() })
		dedupe = store.NewRedisDedupe(cclient, keys, webhook.DedupeTTL)
		if cfg.StreamerChanges > 0 {
			streamerThrottle = store.NewRedisThrottle(rclient, keys, cfg.StreamerChanges, web.ThrottleWindow)
		}
		ready["redis"] = func(ctx context.Context) error { return rclient.Ping(ctx).Err() }

		// The broker between instances: its own client (its appends and its Pub/Sub
		// connection are not queued behind the state pool's requests, and are named apart).
		bopt := *ropt
		bopt.ClientName = redisClientName("broker", cfg.RedisKeyPrefix)
		bclient := redis.NewClient(&bopt)
		a.closers = append(a.closers, func() { bclient.Close() })
		a.broker = broker.New(broker.Config{
			Redis: bclient, Keys: keys, HistorySize: cfg.HistorySize, HistoryAge: cfg.HistoryAge,
			MessageTTL: webhook.DedupeTTL, Logger: log,
			OnHandover: func(key string) { a.Relay.Handover(key) }, // a.Relay is set before the broker runs
		})
		ready["broker"] = a.broker.Check
		a.locks = lock.NewRedis(rclient, keys, a.broker.Instance())
		a.shares = lock.NewShares(lock.NewRedis(cclient, keys, a.broker.Instance()))
		a.claims = lock.NewClaims(a.locks, 0)
		if err := rclient.Ping(ctx).Err(); err != nil {
			log.Warn("redis not reachable yet; serving 503 where it is needed until it is", "err", err)
		}
	} else {
		a.sessions = newMemSessions()
		sessions.Store = a.sessions
		tokens = store.NewMemoryTokens(sessions.Lifetime, nil)
		state = store.NewMemoryRelay()
		dedupe = store.NewMemoryDedupe(store.MemoryDedupeConfig{TTL: webhook.DedupeTTL})
	}

	if opt.Tokens != nil {
		tokens = opt.Tokens
	}

	// Twitch. One transport, so that Close can release its idle connections.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	a.closers = append(a.closers, transport.CloseIdleConnections)
	httpClient := &http.Client{Timeout: twitchHTTPTimeout, Transport: transport}
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

	// The users' Twitch WebSocket sessions: a message read from one goes the callback's way
	// (web → relay → hub); a lost one is the relay's to subscribe again.
	a.TwitchWS = eventsubws.NewPool(eventsubws.PoolConfig{
		URL: cfg.TwitchEventSubWS, KeepaliveSeconds: opt.EventSubKeepalive, Second: opt.EventSubSecond, Logger: log,
		HTTPClient: &http.Client{Transport: transport},
		Message:    func(userID string, msg *webhook.Message) { a.Web.TwitchMessage(a.Relay, userID, msg) },
		Lost: func(userID string, l eventsubws.Loss) {
			a.Relay.TwitchSessionLost(userID, relay.SessionLoss{SessionID: l.SessionID, Code: l.Code, Since: l.Since, At: l.At})
		},
	})

	// Hub and the subscription lifecycle.
	var hubBroker hub.Broker    // with Redis, the broker numbers events for every instance
	var owners relay.Owners     // and claims say which instance runs each session
	var registry relay.Registry // and each shared Twitch subscription is created once, by one of them
	if a.broker != nil {
		hubBroker, owners, registry = a.broker, clusterOwners{a.claims, a.broker}, a.shares
	}
	a.Hub = hub.New(hub.Config{HistorySize: cfg.HistorySize, HistoryBytes: cfg.HistoryBytes, HistoryAge: cfg.HistoryAge, Broker: hubBroker})
	a.Relay = relay.NewManager(relay.Config{
		PublicURL: cfg.PublicURL, ServerSecret: []byte(cfg.ServerSecret),
		Helix: helixClient, Hub: a.Hub, Store: state,
		Lease: cfg.SubscriptionLease, PollInterval: cfg.FollowingPoll, Logger: log,
		StreamersPerUser: cfg.StreamersPerUser, Owners: owners, Registry: registry, ClaimTTL: lock.DefaultClaimTTL,
		DefaultTransport: cfg.EventSubTransport, // chat notifications always go over websocket (relay)
		WebSockets:       a.TwitchWS, UserHelix: helixClient,
		OnRelease: func(sid string) { // a lease ended: free what the process holds for it
			a.Hub.Release(sid)
			a.Web.ReleaseSession(sid)
		},
		OnStatus: m.FeedStatus,
		OnError:  func(op string, err error) { m.BackgroundError(op) },
	})
	m.GaugeFunc("sessions", "Relay sessions held by the hub (with sockets, history or state).", func() float64 { return float64(a.Hub.Stats().Sessions) })
	m.GaugeFunc("hub_subscribers", "Sockets subscribed to the hub.", func() float64 { return float64(a.Hub.Stats().Subscribers) })
	m.GaugeFunc("callback_bodies_reading", "Callback bodies being read now (at most CALLBACK_MAX_READS).", func() float64 { return float64(a.Web.CallbackBodiesReading()) })
	m.GaugeFunc("token_sources", "Sessions whose Twitch token source this process caches.", func() float64 { return float64(a.Web.TokenSources()) })
	m.GaugeFunc("twitch_ws_users", "Twitch users whose EventSub WebSocket session this process keeps.", func() float64 { return float64(a.TwitchWS.Users()) })
	m.GaugeFunc("hub_history_frames", "Event frames kept for resume, all sessions.", func() float64 { return float64(a.Hub.Stats().Frames) })

	// Web: every route.
	var metricsHandler http.Handler
	if cfg.MetricsAddr == "" {
		metricsHandler = m.Handler()
	}
	var validateClaim func(context.Context, string, time.Duration) (bool, error)
	if a.locks != nil { // one instance validates each session's token per hour
		validateClaim = func(ctx context.Context, sid string, ttl time.Duration) (bool, error) {
			_, ok, err := a.locks.TryAcquire(ctx, "validate:"+sid, ttl)
			return ok, err
		}
	}
	a.Web, err = web.New(web.Options{
		Metrics: metricsHandler, Observer: m, ValidateClaim: validateClaim,
		Logger: log, PublicURL: cfg.PublicURL, Sessions: sessions, Tokens: tokens,
		Auth: authClient, Helix: helixClient, Relay: a.Relay, Hub: a.Hub,
		// With a broker a notification's append is idempotent by message id: its callback
		// makes one round trip to Redis (the append), not two (mark, then append).
		Webhooks:       &webhook.Verifier{ServerSecret: []byte(cfg.ServerSecret), Dedupe: dedupe, IdempotentNotifications: a.Hub.Brokered()},
		AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		Demo: cfg.Demo, Version: opt.Version, Suggestions: opt.Suggestions, Ready: ready,
		SuggestionModerators: opt.SuggestionModerators,
		StreamerChanges:      cfg.StreamerChanges, StreamerThrottle: streamerThrottle,
		StateKey: deriveKey(cfg.ServerSecret, "twitchrelay oauth state v1"),
		Now:      opt.TokenClock,
		Limits: web.Limits{
			CallbackReads: cfg.CallbackReads, SocketsPerSession: cfg.SocketsPerSession, SocketsPerIP: cfg.SocketsPerIP,
			HelloTimeout: opt.HelloTimeout, TokenIdle: opt.TokenIdle,
		},
	})
	if err != nil {
		return nil, err
	}

	// HTTP servers: the main one on ln, /metrics on METRICS_ADDR if set.
	a.http = newHTTPServer("serve", ln, a.Web.Handler(), log)
	srv := a.http.srv
	srv.ReadTimeout = readTimeout
	srv.IdleTimeout = idleTimeout
	srv.MaxHeaderBytes = maxHeaderBytes
	// Requests outlive Serve's ctx: sockets end via Hub.Close, with "going away".
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("listen on METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		a.closers = append(a.closers, func() { mln.Close() })
		a.metricsHTTP = newHTTPServer("metrics listener", mln, m.Handler(), log)
	}
	return a, nil
}

// clusterOwners are the relay's Owners with several instances: claims are Redis locks, and a
// handover request goes out on the broker's channel.
type clusterOwners struct {
	*lock.Claims
	b *broker.Broker
}

func (o clusterOwners) Handover(ctx context.Context, sid string) error { return o.b.Handover(ctx, sid) }

// PublicURL is where users and Twitch reach this process (with -demo, the loopback URL of
// New's listener).
func (a *App) PublicURL() *url.URL { return a.cfg.PublicURL }

// Close releases what New opened (Serve calls it on the way out).
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
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
		"helix_url", cfg.TwitchHelixURL, "eventsub_transport", cfg.EventSubTransport, "eventsub_ws_url", cfg.TwitchEventSubWS,
		"subscription_lease", cfg.SubscriptionLease.String(),
		"trusted_proxies", len(cfg.TrustedProxies), "callback_max_reads", cfg.CallbackReads,
		"ws_max_per_session", cfg.SocketsPerSession, "ws_max_per_ip", cfg.SocketsPerIP)
}

// deriveKey is HMAC-SHA256(secret, label): a key of its own for each use of the server secret.
func deriveKey(secret, label string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return m.Sum(nil)
}

func redact(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "(set)"
}
