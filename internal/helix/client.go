// Package helix is twitchrelay's small Twitch Helix client: users, streams, followed
// channels, and EventSub subscription management (docs/TWITCH.md §2-3). Every call takes a
// context; status codes are checked before decoding and mapped to sentinels; Ratelimit-*
// headers are honoured; 5xx answers are retried with backoff.
package helix

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Limits and timings of the client, in one place.
const (
	defaultMaxRetries   = 3                // 5xx retries
	requestTimeout      = 10 * time.Second // per HTTP attempt when the caller's ctx has no deadline
	backoffBase         = 200 * time.Millisecond
	backoffMax          = 5 * time.Second
	minRateLimitWait    = 500 * time.Millisecond // Ratelimit-Reset has a one-second resolution
	maxRateLimitWait    = 65 * time.Second       // the bucket refills within a minute
	maxRateLimitRetries = 5                      // 429s waited out per call before ErrRateLimited
	maxResponseBody     = 4 << 20
	maxIDsPerRequest    = 100 // Helix accepts up to 100 ids/logins per request
	maxPages            = 1000
)

// TokenSource supplies the OAuth token for a request. Invalidate is called with a token
// Twitch rejected (401); the next Token call must return a new one.
// *auth.AppTokenSource and *auth.UserTokenSource satisfy it.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

// Config configures a Client. ClientID and AppToken are required for EventSub calls.
type Config struct {
	BaseURL    string // required (TWITCH_HELIX_URL); the simulator: BASE + "/helix"
	ClientID   string
	AppToken   TokenSource // app access token, for EventSub
	HTTPClient *http.Client
	Logger     *slog.Logger
	MaxRetries int // 5xx retries with backoff; 0 means the default (3), negative means none
	// Sleep waits for d or until ctx is done (then it returns ctx.Err()). Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Observe, if set, is called after every HTTP attempt (status 0: no answer).
	Observe func(endpoint string, status int, d time.Duration)
	// OnRateLimitWait, if set, is called before every wait caused by rate limiting.
	OnRateLimitWait func(d time.Duration)
}

// Client is a Helix client. It is safe for concurrent use.
type Client struct {
	baseURL    string
	clientID   string
	app        TokenSource
	http       *http.Client
	log        *slog.Logger
	maxRetries int
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
	observe    func(string, int, time.Duration)
	onWait     func(time.Duration)
	pageSize   int // "first" for paginated lists; tests make it small

	mu sync.Mutex
	// blocked maps a token to the time its rate-limit bucket refills, for buckets that
	// Twitch reported empty (Ratelimit-Remaining: 0). Entries are removed once passed.
	blocked map[string]time.Time
}

// New returns a Client; zero Config fields get their defaults.
func New(cfg Config) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		clientID:   cfg.ClientID,
		app:        cfg.AppToken,
		http:       cfg.HTTPClient,
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries,
		sleep:      cfg.Sleep,
		now:        cfg.Now,
		observe:    cfg.Observe,
		onWait:     cfg.OnRateLimitWait,
		blocked:    make(map[string]time.Time),
		pageSize:   maxIDsPerRequest,
	}
	if c.baseURL == "" {
		panic("helix: Config.BaseURL is required")
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// sleepCtx waits for d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
