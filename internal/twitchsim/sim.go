package twitchsim

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The simulator's default OAuth client. They look like Twitch credentials (30 lowercase
// alphanumerics) but are recognisable, so a real deployment can refuse to run with them.
const (
	DefaultClientID     = "twitchsimdefaultclientid000000"
	DefaultClientSecret = "twitchsimdefaultclientsecret00"
)

// Defaults, limits and timeouts in one place.
const (
	defaultUserTokenTTL    = 4 * time.Hour          // Twitch examples: about 4 h
	defaultAppTokenTTL     = 5011271 * time.Second  // Twitch examples: about 2 months
	defaultCodeTTL         = 10 * time.Minute       // authorization codes are short-lived
	defaultRateLimit       = 800                    // Helix points per minute
	defaultMaxTotalCost    = 10000                  // webhook max_total_cost
	defaultRetries         = 3                      // notification retries after the first attempt
	defaultRetryBackoff    = 100 * time.Millisecond // wait before each retry
	defaultMaxFailures     = 3                      // consecutive failed notifications tolerated
	defaultDeliveryTimeout = 10 * time.Second       // one POST to a callback
	defaultAppName         = "twitchrelay"          // shown on the authorize page
	maxBodyBytes           = 1 << 20                // request bodies the sim reads
	maxCallbackAnswer      = 64 << 10               // callback answers the sim reads
	maxIdenticalSubs       = 3                      // same type+version+condition (RFC 0014)
	rateLimitWindow        = time.Minute            // the bucket refills fully in this time
	defaultActivitySeedMix = 0x7477697463687369     // "twitchsi", mixed with Config.Seed
)

// Config configures a Sim. The zero value (plus RedirectURIs) is a Twitch-like simulator.
type Config struct {
	// ClientID and ClientSecret of the one registered application.
	// Empty means DefaultClientID / DefaultClientSecret.
	ClientID     string
	ClientSecret string
	// AppName is shown on the authorize page ("twitchrelay" if empty).
	AppName string
	// RedirectURIs registered for the client. Twitch compares redirect_uri by exact string
	// match, and so does the simulator. SetRedirectURIs replaces them later.
	RedirectURIs []string

	// AllowInsecureCallbacks relaxes the EventSub callback rule. Twitch only accepts
	// webhook callbacks over https on port 443, and so does the simulator by default.
	// When true, the simulator also accepts http (any port) and https on any port, but
	// only when the callback host is loopback (127.0.0.1, localhost or [::1]); tests and
	// the demo run their callback receiver there. Other hosts still need https on 443.
	AllowInsecureCallbacks bool

	// Token lifetimes; 0 means Twitch-like defaults (4 h user tokens, ~58 days app tokens,
	// 10 min authorization codes). Tests set them short, or use Now.
	UserTokenTTL, AppTokenTTL, CodeTTL time.Duration

	// RateLimitPoints is the Helix bucket size, refilled over one minute, per
	// (client id, user) for user tokens and per client id for app tokens. 0 means 800.
	RateLimitPoints int
	// MaxTotalCost is the EventSub webhook max_total_cost; 0 means 10000.
	MaxTotalCost int

	// DeliveryRetries is how many times a failed notification is resent with the same
	// message id (0 means 3; negative means none). RetryBackoff is the wait before each
	// retry (0 means 100 ms; negative means none).
	DeliveryRetries int
	RetryBackoff    time.Duration
	// MaxNotificationFailures is how many notifications in a row may fail (after their
	// retries) before the subscription becomes notification_failures_exceeded and a
	// revocation is sent. 0 means 3.
	MaxNotificationFailures int
	// DeliveryTimeout bounds one POST to a callback; 0 means 10 s.
	DeliveryTimeout time.Duration
	// HTTPClient sends deliveries (e.g. an httptest TLS server's client). Redirects are
	// never followed, as on Twitch. Nil means a private client.
	HTTPClient *http.Client

	// Logger receives the simulator's logs; nil discards them. The simulator adds
	// component=twitchsim to every line itself: pass the caller's logger as it is, not one
	// With that attribute (it would appear twice).
	Logger *slog.Logger
	// Now is the simulator's clock (tokens, codes, rate limits, timestamps); nil = time.Now.
	Now func() time.Time
	// Seed makes the activity generator's choices reproducible; 0 picks a random seed.
	Seed uint64
	// WSSecond is the EventSub WebSocket server's second (ws.go): keepalive timeouts, the
	// subscribe deadline and the reconnect grace are counted in it. 0 = time.Second; tests
	// shorten it.
	WSSecond time.Duration
	// WSSubscriptionsPerSession is the limit of enabled subscriptions on one WebSocket
	// session; 0 = Twitch's 300 (a test lowers it: the simulated world has too few
	// channels for 300 distinct subscriptions).
	WSSubscriptionsPerSession int
}

// Sim is the Twitch simulator: an http.Handler serving OAuth under /id/oauth2, Helix under
// /helix and its own controls under /sim, plus a Go API for tests and the demo.
// Create it with New and release it with Close.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	mux    *http.ServeMux

	ctx    context.Context // cancelled by Close; parent of background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu           sync.Mutex // guards everything below; never held during HTTP deliveries
	redirectURIs []string
	world        *world
	tokens       map[string]*token        // access token -> token
	refresh      map[string]*refreshGrant // refresh token -> grant
	codes        map[string]*authCode     // authorization code -> code
	grants       map[string]map[string]bool
	subs         map[string]*sub // subscription id -> subscription
	subOrder     []string        // subscription ids, oldest first
	changed      chan struct{}   // closed and replaced whenever a subscription changes
	buckets      map[bucketKey]*bucket
	faults       []*Fault
	misbehavior  Misbehavior
	rng          *rand.Rand
	pause        *deliveryPause // PauseDeliveries
	opening      map[string]int // streamer id → next opening kind of the activity generator
	ws           *wsState
	validations  int // answered /oauth2/validate requests
}

// New returns a simulator with a freshly seeded world.
func New(cfg Config) *Sim {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	if cfg.AppName == "" {
		cfg.AppName = defaultAppName
	}
	cfg.UserTokenTTL = orDuration(cfg.UserTokenTTL, defaultUserTokenTTL)
	cfg.AppTokenTTL = orDuration(cfg.AppTokenTTL, defaultAppTokenTTL)
	cfg.CodeTTL = orDuration(cfg.CodeTTL, defaultCodeTTL)
	cfg.DeliveryTimeout = orDuration(cfg.DeliveryTimeout, defaultDeliveryTimeout)
	cfg.RetryBackoff = orDuration(cfg.RetryBackoff, defaultRetryBackoff)
	cfg.RateLimitPoints = orInt(cfg.RateLimitPoints, defaultRateLimit)
	cfg.MaxTotalCost = orInt(cfg.MaxTotalCost, defaultMaxTotalCost)
	cfg.DeliveryRetries = orInt(cfg.DeliveryRetries, defaultRetries)
	cfg.MaxNotificationFailures = orInt(cfg.MaxNotificationFailures, defaultMaxFailures)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		cfg:          cfg,
		log:          logger.With("component", "twitchsim"),
		now:          cfg.Now,
		client:       deliveryClient(cfg.HTTPClient),
		ctx:          ctx,
		cancel:       cancel,
		redirectURIs: append([]string(nil), cfg.RedirectURIs...),
		world:        seedWorld(cfg.Now()),
		tokens:       map[string]*token{},
		refresh:      map[string]*refreshGrant{},
		codes:        map[string]*authCode{},
		grants:       map[string]map[string]bool{},
		subs:         map[string]*sub{},
		opening:      map[string]int{},
		changed:      make(chan struct{}),
		buckets:      map[bucketKey]*bucket{},
		rng:          rand.New(rand.NewPCG(seed, defaultActivitySeedMix)),
		ws:           newWSState(),
	}
	s.mux = s.routes()
	return s
}

func (s *Sim) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /id/oauth2/authorize", s.handleAuthorizePage)
	mux.HandleFunc("POST /id/oauth2/authorize", s.handleAuthorizeDecision)
	mux.HandleFunc("POST /id/oauth2/token", s.handleToken)
	mux.HandleFunc("GET /id/oauth2/validate", s.handleValidate)
	mux.HandleFunc("POST /id/oauth2/revoke", s.handleRevoke)
	mux.HandleFunc("/helix/", s.handleHelix)
	mux.HandleFunc("GET /ws", s.handleWS) // EventSub WebSockets (eventsub.wss.twitch.tv/ws)
	mux.HandleFunc("GET /sim/state", s.loopbackOnly(s.handleState))
	mux.HandleFunc("POST /sim/trigger", s.loopbackOnly(s.handleTrigger))
	mux.HandleFunc("POST /sim/revoke", s.loopbackOnly(s.handleRevokeControl))
	return mux
}

// ServeHTTP serves both Twitch hosts and the simulator controls.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/id/") && s.applyFault(w, r, false) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Close stops the activity generator and pending verifications, waits for them and
// releases idle connections. Trigger methods called after Close fail to deliver.
func (s *Sim) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.cancel() // under mu, so goAsync never adds to wg after Wait started
		s.mu.Unlock()
		s.wg.Wait()
		s.client.CloseIdleConnections()
	})
}

// SetRedirectURIs replaces the registered redirect URIs (exact match, as on Twitch).
func (s *Sim) SetRedirectURIs(uris ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectURIs = append([]string(nil), uris...)
}

// ClientID returns the registered client id.
func (s *Sim) ClientID() string { return s.cfg.ClientID }

// ClientSecret returns the registered client secret.
func (s *Sim) ClientSecret() string { return s.cfg.ClientSecret }

// Misbehavior switches on deliberate deviations that a robust receiver must survive.
type Misbehavior struct {
	// DuplicateDelivery sends every notification twice with the same message id.
	DuplicateDelivery bool
	// TimestampSkew is added to the Twitch-Eventsub-Message-Timestamp of every
	// notification and revocation (negative: an old message, positive: from the future).
	TimestampSkew time.Duration
}

// SetMisbehavior replaces the current misbehavior; the zero value behaves like Twitch.
func (s *Sim) SetMisbehavior(m Misbehavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.misbehavior = m
}

// goAsync runs f in a goroutine that Close waits for.
func (s *Sim) goAsync(f func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
	return true
}

func orDuration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func orInt(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
