// Package web is twitchrelay's HTTP surface: the pages of the original design (landing, auth,
// streamer form, stream), the WebSocket endpoint, the EventSub callback, health and metrics.
// All routes are in routes.go; handlers return errors that one adapter turns into responses.
package web

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Limits and timeouts of the web layer, in one place.
const (
	callbackReadTimeout  = 10 * time.Second // a webhook body: Twitch expects an answer within seconds
	twitchCallTimeout    = 10 * time.Second
	tokenValidateEvery   = time.Hour               // Twitch requires validation at start-up and hourly
	wsReadLimit          = 4 << 10                 // client frames are tiny JSON objects
	wsWriteTimeout       = hub.DefaultStallTimeout // one write blocked this long: the browser stopped reading (stall, dropped as slow)
	wsPingInterval       = 25 * time.Second
	wsHelloTimeout       = 30 * time.Second // the client must say stream_connected by then
	callbackRetryAfter   = "1"              // seconds, when every callback read slot is taken
	callbackPaceWait     = time.Second      // most a 204 waits for a receiving socket that is far behind (hub.PublishPaced)
	subscribeTimeout     = 2 * time.Minute  // a SubscribeToAllEvents, rate-limit waits included
	staticCacheImmutable = "public, max-age=31536000, immutable"
)

// Authenticator is what the web layer needs of internal/auth.
type Authenticator interface {
	AuthCodeURL(state string, forceVerify bool) string
	Exchange(ctx context.Context, code string) (auth.Token, error)
	Refresh(ctx context.Context, t auth.Token) (auth.Token, error)
	Validate(ctx context.Context, accessToken string) (auth.Validation, error)
	Revoke(ctx context.Context, accessToken string) error
	UserTokenSource(t auth.Token, onRefresh func(auth.Token)) *auth.UserTokenSource
}

// Helix is what the web layer needs of internal/helix.
type Helix interface {
	GetUsers(ctx context.Context, ts helix.TokenSource, logins, ids []string) ([]helix.User, error)
	GetUserByLogin(ctx context.Context, ts helix.TokenSource, login string) (helix.User, error)
	GetStreams(ctx context.Context, ts helix.TokenSource, userIDs []string) ([]helix.Stream, error)
	GetChannels(ctx context.Context, ts helix.TokenSource, broadcasterIDs []string) ([]helix.Channel, error)
	GetFollowedChannels(ctx context.Context, ts helix.TokenSource, userID string, first int) ([]helix.FollowedChannel, error)
}

// Relay is what the web layer needs of the subscription state machine (internal/relay).
type Relay interface {
	SubscribeToAllEvents(ctx context.Context, s relay.Session) error
	UnsubscribeFromAllEvents(ctx context.Context, sessionID, reason string) error
	Route(ctx context.Context, sessionID string, msg *webhook.Message) (relay.Route, error)
	SocketOpened(sessionID string)
	SocketClosed(sessionID string)
	Statuses(sessionID string) []relay.FeedStatus
}

// Options wires a Server. Every field but Metrics and Ready is required.
type Options struct {
	// Now is the clock of the token sources' idle sweep (tests: a settable one); nil = time.Now.
	Now            func() time.Time
	Logger         *slog.Logger
	PublicURL      *url.URL
	Sessions       *scs.SessionManager
	Tokens         TokenStore
	Auth           Authenticator
	Helix          Helix
	Relay          Relay
	Webhooks       *webhook.Verifier // checks Twitch's callbacks
	Hub            *hub.Hub
	AllowedOrigins []string
	TrustedProxies []netip.Prefix
	Demo           bool
	Version        string
	Suggestions    []string                               // streamer logins offered on the form (demo)
	Ready          map[string]func(context.Context) error // readiness checks by name
	Metrics        http.Handler                           // served at /metrics when non-nil
	Observer       Observer                               // metrics hooks; nil is fine
	Limits         Limits                                 // what a stranger can make the server spend
	StateKey       []byte                                 // signs the pending OAuth state's cookie

	// SuggestionModerators are the moderators' logins of suggested channels, by channel login
	// (demo), so the form can say which show the logged-in user follower events. nil = not known.
	SuggestionModerators map[string][]string

	// StreamerChanges is how many streamer changes a session, and a Twitch user, may make per
	// minute (STREAMER_CHANGES_PER_MINUTE); 0 = defaultStreamerChanges.
	StreamerChanges int
	// StreamerThrottle, with several instances, holds those buckets where every instance
	// sees them (store.RedisThrottle, of StreamerChanges per ThrottleWindow); nil = in this
	// process.
	StreamerThrottle Throttle

	// ValidateClaim, with several instances, makes one instance the validator of a session's
	// token for ttl (a Redis lock nobody releases: it lapses after ttl): the hourly round
	// validates a live session only when it returns true, so a session whose sockets are on
	// several instances is validated once an hour, not once per instance. nil: always true.
	ValidateClaim func(ctx context.Context, sid string, ttl time.Duration) (bool, error)
}

// defaultStreamerChanges is StreamerChanges when a test's Options leave it 0 (the binary
// passes config's default).
const defaultStreamerChanges = 6

// Server serves every route of twitchrelay.
type Server struct {
	opt       Options
	log       *slog.Logger
	sessions  *scs.SessionManager
	templates map[string]*template.Template
	assets    *assets
	started   time.Time
	obs       Observer
	tokens    *userTokens
	live      liveSessions
	verifier  *webhook.Verifier
	sockets   sync.WaitGroup // every /ws handler, hijacked: http.Server.Shutdown does not wait for them

	// Bounds on what strangers and single users can make us spend (abuse).
	ready           readiness  // /readyz's cached checks
	refusalLogs     logSampler // which refused callbacks are logged
	streamerChanges Throttle   // per session and per Twitch user
	limits          Limits
	bodies          chan struct{}  // one token per callback body being read (Limits.CallbackReads)
	open            socketRegistry // open sockets by session and address
	batches         batchBuffers   // buffers of the sockets' batch messages
}

// New parses the embedded templates and assets; a broken template fails here, at start-up.
func New(opt Options) (*Server, error) {
	s := &Server{opt: opt, log: opt.Logger, sessions: opt.Sessions, started: time.Now(), obs: opt.Observer,
		tokens: newUserTokens(opt.Auth, opt.Tokens), verifier: opt.Webhooks}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	if s.opt.StreamerChanges <= 0 {
		s.opt.StreamerChanges = defaultStreamerChanges
	}
	s.streamerChanges = opt.StreamerThrottle
	if s.streamerChanges == nil {
		s.streamerChanges = newThrottle(s.opt.StreamerChanges, time.Now)
	}
	if len(opt.StateKey) < 32 {
		return nil, fmt.Errorf("web: StateKey must be at least 32 bytes")
	}
	s.limits = opt.Limits
	if s.limits.CallbackReads <= 0 || s.limits.SocketsPerSession <= 0 || s.limits.SocketsPerIP <= 0 {
		return nil, fmt.Errorf("web: Limits.CallbackReads, SocketsPerSession and SocketsPerIP must be positive: %+v", s.limits)
	}
	if s.limits.HelloTimeout <= 0 {
		s.limits.HelloTimeout = wsHelloTimeout
	}
	if s.limits.TokenIdle <= 0 {
		s.limits.TokenIdle = opt.Sessions.IdleTimeout
	}
	s.bodies = make(chan struct{}, s.limits.CallbackReads)
	s.tokens.idle = s.limits.TokenIdle
	if opt.Now != nil {
		s.tokens.now = opt.Now
	}
	s.tokens.live = s.open.has
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.templates, err = parseTemplates(s.assets); err != nil {
		return nil, err
	}
	s.sessions.ErrorFunc = s.sessionError
	return s, nil
}

// Wait waits until every socket handler has returned (after Hub.Close told them to go), so
// that their subscribes are over; no longer than ctx allows.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("web: sockets still open: %w", ctx.Err())
	}
}
