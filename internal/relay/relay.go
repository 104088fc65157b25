// Package relay is the subscription lifecycle of twitchrelay: per relay session and
// streamer, the EventSub webhook subscriptions of each feed (the original
// TwitchSubscribeClient), their statuses, leases, start-up reconciliation, the
// following-poller, and the POST /callback/{session_id} receiver that hands verified events
// to the Sink.
//
// Subscriptions are shared. Twitch allows at most 3 webhook subscriptions with the same
// type, version and condition per app, so the sessions of a Manager that need the same one
// (the viewers of one streamer; for channel.follow, of one moderator) reference a single
// subscription. It is created by the first of them, with that session's callback
// (PUBLIC_URL/callback/{session id}) and derived secret, and it keeps them when that session
// ends. A verified notification on any callback is handed to every live session that
// references its subscription; the subscription is deleted in Twitch when its last reference
// drops (End, lease expiry, logout, streamer change). Each session records the subscriptions
// it references in its own Record, so Reconcile rebuilds the sharing after a restart.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Defaults and limits of the lifecycle, in one place.
const (
	DefaultLease        = 1000 * time.Second // the original "default subscription time"
	DefaultPollInterval = 60 * time.Second   // following-poller
	maxSweepEvery       = 30 * time.Second   // Run's Expire/Touch ticker, at most
	challengeWait       = 5 * time.Second    // how long a challenge waits for our create to return
	backgroundTimeout   = 30 * time.Second   // deletes of stray subscriptions
	tooManyRetryAfter   = 10 * time.Minute   // no new create after Twitch's "too many identical" 429
	verifyTimeout       = 10 * time.Second   // a pending subscription's wait for its challenge, per check
	verifyChecks        = 3                  // checks of a pending subscription before we give it up
	followedPageSize    = 100
)

// Session is one relay session watching one streamer.
type Session struct {
	ID        string // relay session id: 128-bit random hex from the web layer; never logged in full
	UserID    string // the logged-in Twitch user
	UserLogin string
	Streamer  Streamer
	UserToken helix.TokenSource // the logged-in user's token (following-poller only)
}

// Streamer is the channel a session watches.
type Streamer struct {
	ID, Login, DisplayName string
}

// Helix is what the relay needs of internal/helix (a *helix.Client satisfies it).
type Helix interface {
	CreateSubscription(ctx context.Context, req eventsub.CreateRequest) (eventsub.Subscription, error)
	ListSubscriptions(ctx context.Context, f helix.ListFilter) ([]eventsub.Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
	GetFollowedChannels(ctx context.Context, ts helix.TokenSource, userID string, first int) ([]helix.FollowedChannel, error)
}

// Sink receives what the browser must see; the web layer adapts it to the hub.
type Sink interface {
	// Event hands over a verified, normalised event. It must not block.
	Event(sessionID string, ev webhook.Event)
	// Status hands over every feed's status after one of them changed.
	Status(sessionID string, feeds []FeedStatus)
}

// Config configures a Manager. PublicURL, ServerSecret, Helix, Sink, Store and Dedupe are
// required; zero values of the rest take the defaults.
type Config struct {
	PublicURL    *url.URL // callbacks are PublicURL + "/callback/" + session id
	ServerSecret []byte   // webhook secrets are derived from it (webhook.Secret); never logged
	Helix        Helix
	Sink         Sink
	Store        Store
	Dedupe       webhook.Deduper
	Lease        time.Duration // how long subscriptions outlive the last socket; default DefaultLease
	PollInterval time.Duration // following-poller; default DefaultPollInterval
	MaxBody      int64         // callback body limit; default webhook.DefaultMaxBody
	Logger       *slog.Logger  // default: discard
	Now          func() time.Time

	// VerifyTimeout is how long a subscription Twitch created pending may wait for its
	// challenge before we ask Twitch what became of it; default verifyTimeout.
	VerifyTimeout time.Duration

	// Optional hooks, e.g. for metrics. They must not block.
	OnWebhook func(eventType, outcome string) // one call per callback
	OnStatus  func(feed, status string)       // a feed's status changed
	OnRelease func(sessionID string)          // a lease ended and the session was released
	OnError   func(op string, err error)      // a background Twitch or store call failed
}

// Manager runs the subscription lifecycle of every relay session. Create it with NewManager.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	verifier *webhook.Verifier
	prefix   string // PublicURL + "/callback/"

	ctx      context.Context // background work (pollers, stray deletes); cancelled by Shutdown
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	bgMu     sync.Mutex // guards stopping against wg.Go
	stopping bool       // Shutdown has begun: no new background work

	mu       sync.Mutex
	sessions map[string]*session
	sockets  map[string]int       // open sockets per session id (outlives End: a socket may stay)
	deleting map[string]struct{}  // subscription ids being deleted in the background
	ops      map[string]*opLock   // per-session serialisation of Ensure/End/release
	shares   map[string]*shared   // by shareKey: the usable subscription new sessions join
	subs     map[string]*shared   // by Twitch id: every subscription with live references
	creating map[string]int       // creates in flight by callback session id
	created  chan struct{}        // closed and replaced whenever a create returns
	tooMany  map[string]time.Time // shareKey → no create before then (Twitch's 3-identical cap)

	challengeWaiting func() // tests: a challenge is waiting for a create to return
}

// NewManager returns a Manager. Call Run in a goroutine, Reconcile at start-up and Shutdown
// at the end.
func NewManager(cfg Config) *Manager {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = verifyTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Logger,
		verifier: &webhook.Verifier{ServerSecret: cfg.ServerSecret, Dedupe: cfg.Dedupe, Now: cfg.Now, MaxBody: cfg.MaxBody},
		prefix:   strings.TrimSuffix(cfg.PublicURL.String(), "/") + "/callback/",
		sessions: make(map[string]*session),
		sockets:  make(map[string]int),
		deleting: make(map[string]struct{}),
		ops:      make(map[string]*opLock),
		shares:   make(map[string]*shared),
		subs:     make(map[string]*shared),
		creating: make(map[string]int),
		created:  make(chan struct{}),
		tooMany:  make(map[string]time.Time),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Run sweeps expired leases and refreshes the stored state of live sessions until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Expire(ctx, m.cfg.Now()); err != nil {
				m.log.Warn("lease sweep", "err", err)
			}
		}
	}
}

func (m *Manager) sweepEvery() time.Duration {
	return max(min(m.cfg.Lease/4, maxSweepEvery), time.Millisecond)
}

// storeTTL is how long a stored session outlives its last refresh: a lease plus two sweeps,
// so a session whose instance died expires by itself.
func (m *Manager) storeTTL() time.Duration {
	return m.cfg.Lease + 2*m.sweepEvery()
}

// CallbackURL is the webhook callback of a session.
func (m *Manager) CallbackURL(sessionID string) string {
	return m.prefix + sessionID
}

// shortID is how a session id appears in logs: a hash prefix, never the id.
func shortID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:4])
}

func (m *Manager) hookError(op string, err error) {
	if m.cfg.OnError != nil {
		m.cfg.OnError(op, err)
	}
}

// opLock serialises the lifecycle operations of one session.
type opLock struct {
	mu   sync.Mutex
	refs int
}

// lockSession takes the session's operation lock and returns its release.
func (m *Manager) lockSession(id string) func() {
	m.mu.Lock()
	l := m.ops[id]
	if l == nil {
		l = &opLock{}
		m.ops[id] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.ops, id)
		}
		m.mu.Unlock()
	}
}

// goBackground runs f with the Manager's background context, tracked for Shutdown.
func (m *Manager) goBackground(f func(ctx context.Context)) {
	m.track(func() { f(m.ctx) })
}

// track runs f on a goroutine Shutdown waits for. Once Shutdown has begun nothing new starts:
// a WaitGroup must not grow while it is being waited on.
func (m *Manager) track(f func()) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.stopping {
		return
	}
	m.wg.Go(f)
}
