// Package relay is the subscription state machine of twitchrelay: per relay session and
// streamer, the EventSub webhook subscriptions of each feed (the original design's
// TwitchSubscribeClient: SubscribeToAllEvents, UnsubscribeFromAllEvents and one Subscribe
// method per feed), their statuses, leases, start-up reconciliation and the following
// poller. It knows no HTTP: the web layer's callback handler verifies a webhook and asks
// Route what it means and who receives it. What the relay originates itself (feed statuses,
// polled events) it publishes into the Hub. Its state is kept in a Store (internal/store).
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
//
// The transport is chosen per event type (Config.Transports, Config.DefaultTransport;
// websocket.go): a type may instead go over the Twitch user's own EventSub WebSocket session,
// with subscriptions made with that user's token and shared by that user's sessions only.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Internal limits of the lifecycle, in one place (what is configurable has its default in
// internal/config).
const (
	maxSweepEvery     = 30 * time.Second       // Run's Expire/Touch ticker, at most
	challengeWait     = 5 * time.Second        // how long a challenge waits for our create to return
	backgroundTimeout = 30 * time.Second       // deletes of stray subscriptions
	tooManyRetryAfter = 10 * time.Minute       // no new create after Twitch's "too many identical" 429
	verifyTimeout     = 10 * time.Second       // a pending subscription's wait for its challenge, per check
	reconcileGrace    = 2 * time.Minute        // several instances: a subscription this young may be another's create in flight
	storePoll         = 50 * time.Millisecond  // several instances: a challenge looks for the creator's record this often
	verifiedPoll      = 250 * time.Millisecond // several instances: a pending subscription's watchdog looks for another's answer this often
	verifyChecks      = 3                      // checks of a pending subscription before we give it up
	followedPageSize  = 100
)

// Session is one relay session watching one streamer.
type Session struct {
	ID        string // relay session id: 128-bit random hex from the web layer; never logged in full
	UserID    string // the logged-in Twitch user
	UserLogin string
	Streamer  Streamer
	UserToken helix.TokenSource // the logged-in user's token (following-poller only)
	Scopes    []string          // what the user granted at login (feeds that need a scope check it)
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

// Hub is where the relay publishes what it originates: each session's feed statuses (its
// state frame) and the following feed's polled events. *hub.Hub satisfies it; it never blocks.
type Hub interface {
	PublishTo(sessionIDs []string, m hub.Message)
	SendState(sessionID string, frame []byte)
}

// Store keeps each session's Record, in memory or Redis (internal/store). Every write takes a
// TTL so abandoned sessions expire by themselves; errors are returned, never panicked.
type Store interface {
	// Load returns a session's record; ok is false if there is none.
	Load(ctx context.Context, sessionID string) (rec store.Record, ok bool, err error)
	// Save replaces a session's record (subscriptions included).
	Save(ctx context.Context, rec store.Record, ttl time.Duration) error
	// SaveSub adds or replaces one subscription the session references.
	SaveSub(ctx context.Context, sessionID string, sub store.OwnedSub, ttl time.Duration) error
	// DeleteSub forgets one subscription the session references.
	DeleteSub(ctx context.Context, sessionID, subID string) error
	// Touch sets the lease deadlines of sessions that exist and renews their TTL, in one batch.
	Touch(ctx context.Context, leases map[string]time.Time, ttl time.Duration) error
	// SaveFollowsSeen records how far the following feed has accounted for (Record.FollowsSeen).
	SaveFollowsSeen(ctx context.Context, sessionID string, seen time.Time) error
	// Delete forgets a session.
	Delete(ctx context.Context, sessionID string) error
	// List returns every unexpired record.
	List(ctx context.Context) ([]store.Record, error)
}

// Config configures a Manager. Every field down to PollInterval is required; zero values of
// the rest take the defaults.
type Config struct {
	PublicURL    *url.URL // callbacks are PublicURL + "/callback/" + session id
	ServerSecret []byte   // webhook secrets are derived from it (webhook.Secret); never logged
	Helix        Helix
	Hub          Hub
	Store        Store
	Lease        time.Duration // how long subscriptions outlive the last socket (SUBSCRIPTION_LEASE)
	PollInterval time.Duration // following-poller (FOLLOWING_POLL_INTERVAL)
	// StreamersPerUser caps the distinct streamers one Twitch user's sessions hold
	// subscriptions for at once (STREAMERS_PER_USER); 0 = no cap. With several instances it
	// holds across them: one instance runs all of a user's sessions (Owners).
	StreamersPerUser int
	Logger           *slog.Logger // default: discard
	Now              func() time.Time

	// Owners, with several instances, decides which one runs each user's sessions
	// (owners.go); nil: this process runs every session. ClaimEvery is how often claims are
	// renewed (DefaultClaimEvery when 0), ClaimTTL their lease (DefaultClaimTTL when 0; it
	// dates the start of a takeover's events_missing frame).
	Owners     Owners
	ClaimEvery time.Duration
	ClaimTTL   time.Duration
	// Registry, with several instances, is where they share each webhook subscription
	// (registry.go); nil: this process's sessions share among themselves only.
	Registry Registry

	// Transports chooses the transport of an event type's subscriptions:
	// eventsub.TransportWebhook (shared, app token) or eventsub.TransportWebSocket (the
	// user's own Twitch WebSocket session, websocket.go). Types not listed use their fixed
	// transport (channel.chat.notification: websocket, the only way a plain viewer gets it;
	// fixedTransports), else DefaultTransport ("" = webhook), e.g. EVENTSUB_TRANSPORT. Tests
	// put chat notifications on webhooks for a bot reader, which Twitch allows.
	Transports       map[string]string
	DefaultTransport string
	// WebSockets and UserHelix are required when any type goes over websocket.
	WebSockets UserSessions
	UserHelix  UserHelix

	// VerifyTimeout is how long a subscription Twitch created pending may wait for its
	// challenge before we ask Twitch what became of it; default verifyTimeout.
	VerifyTimeout time.Duration

	// Optional hooks, e.g. for metrics. They must not block.
	OnStatus  func(feed, status string)  // a feed's status changed
	OnRelease func(sessionID string)     // a lease ended and the session was released
	OnError   func(op string, err error) // a background Twitch or store call failed
}

// Manager runs the subscription lifecycle of every relay session. Create it with NewManager.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	prefix string // PublicURL + "/callback/"

	ctx      context.Context // background work (pollers, watchdogs, stray deletes); cancelled by Shutdown
	cancel   context.CancelFunc
	wg       sync.WaitGroup // background work
	inflight sync.WaitGroup // subscribes (Subscribe*): Shutdown lets them finish, then deletes
	bgMu     sync.Mutex     // guards stopping against wg.Go and inflight.Add
	stopping bool           // Shutdown has begun: nothing new starts

	mu       sync.Mutex
	sessions map[string]*session
	sockets  map[string]int       // open sockets per session id (outlives End: a socket may stay)
	deleting map[string]struct{}  // subscription ids being deleted in the background
	ops      map[string]*opLock   // per-session serialisation of state transitions (subscribe, unsubscribe, release)
	shares   map[string]*shared   // by shareKey: the usable subscription new sessions join
	subs     map[string]*shared   // by Twitch id: every subscription with live references
	creating map[string]int       // creates in flight by callback session id
	created  chan struct{}        // closed and replaced whenever a create returns
	tooMany  map[string]time.Time // shareKey → no create before then (Twitch's 3-identical cap)
	wsWait   map[string]int       // websocket creates in flight by user id
	wsMu     sync.Mutex           // orders closeUnusedWS's decision against createWS starting
	own      ownership            // several instances: the user claims (owners_user.go)

	challengeWaiting func() // tests: a challenge is waiting for a create to return
}

// NewManager returns a Manager. Call Run in a goroutine, Reconcile at start-up and Shutdown
// at the end.
func NewManager(cfg Config) *Manager {
	if cfg.Lease <= 0 || cfg.PollInterval <= 0 {
		panic("relay: Config.Lease and Config.PollInterval are required")
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
		wsWait:   make(map[string]int),
		own:      newOwnership(),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Run sweeps expired leases and refreshes the stored state of live sessions until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	if m.cfg.Owners != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { m.runClaims(ctx) })
	}
	t := time.NewTicker(m.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if m.cfg.Owners != nil {
				m.adoptOrphans(ctx)
			}
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

// opLock serialises the state transitions of one session (never a wait on Twitch for
// a create: those run outside it, so ending a session never waits for a stalled subscribe).
type opLock struct {
	ch   chan struct{} // holds one token while locked
	refs int           // guarded by m.mu
}

// lockSession takes the session's operation lock, waiting no longer than ctx allows, and
// returns its release.
func (m *Manager) lockSession(ctx context.Context, id string) (func(), error) {
	m.mu.Lock()
	l := m.ops[id]
	if l == nil {
		l = &opLock{ch: make(chan struct{}, 1)}
		m.ops[id] = l
	}
	l.refs++
	m.mu.Unlock()
	drop := func() {
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.ops, id)
		}
		m.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, fmt.Errorf("relay: session %s is busy: %w", shortID(id), ctx.Err())
	}
}

// ErrShuttingDown: Shutdown has begun; nothing new is subscribed.
var ErrShuttingDown = errors.New("relay: shutting down")

// begin registers a subscribe with Shutdown, which waits for it; it fails once Shutdown has
// begun.
func (m *Manager) begin() (func(), error) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.stopping {
		return nil, ErrShuttingDown
	}
	m.inflight.Add(1)
	return m.inflight.Done, nil
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
