package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/lock"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
	"go.uber.org/goleak"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("relay test server secret, 32 b!!")

const waitFor = 10 * time.Second // deadline of every wait; nothing sleeps

// staticToken is a helix.TokenSource with a fixed token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string)                       {}

// recSink is a fake hub: it records what reaches each session, the relay's own statuses
// and events (SendState, PublishTo) and what the env's callback receiver routes.
type recSink struct {
	mu       sync.Mutex
	events   map[string][]webhook.Event
	statuses map[string][]FeedStatus
	missing  map[string][]json.RawMessage // events_missing frames' events
	changed  chan struct{}
}

func newSink() *recSink {
	return &recSink{events: map[string][]webhook.Event{}, statuses: map[string][]FeedStatus{}, missing: map[string][]json.RawMessage{},
		changed: make(chan struct{})}
}

// PublishTo implements Hub.
func (s *recSink) PublishTo(ids []string, m hub.Message) {
	if m.Type == eventsMissingType { // a takeover's or a Twitch session loss's gap
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, id := range ids {
			s.missing[id] = append(s.missing[id], m.Event)
		}
		close(s.changed)
		s.changed = make(chan struct{})
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(m.Event, &ev); err != nil || m.Type != "event_updated" {
		panic(fmt.Sprintf("PublishTo got a %q message that is not an event: %v", m.Type, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.events[id] = append(s.events[id], ev)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// SendState implements Hub: the feed_status frame, decoded.
func (s *recSink) SendState(sid string, frame []byte) {
	var f struct {
		Type  string
		Feeds []FeedStatus
	}
	if err := json.Unmarshal(frame, &f); err != nil || f.Type != "feed_status" {
		panic(fmt.Sprintf("SendState got %s: %v", frame, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[sid] = f.Feeds
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *recSink) Events(sid string) []webhook.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events[sid])
}

// wait waits until cond (called under the lock) holds.
func (s *recSink) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timed out waiting for %s; statuses %+v", what, s.statuses)
		}
	}
}

// waitStatus waits until the Sink was told feed has status, and returns its FeedStatus.
func (s *recSink) waitStatus(t *testing.T, sid, feed, status string) FeedStatus {
	t.Helper()
	var got FeedStatus
	s.wait(t, feed+" "+status, func() bool {
		for _, f := range s.statuses[sid] {
			if f.Feed == feed {
				got = f
				return f.Status == status
			}
		}
		return false
	})
	return got
}

// env is the simulator as Twitch over real HTTP, and a callback receiver on another real
// HTTP server that takes the straight line internal/web's handler takes: verify, Route,
// answer, publish (into the fake hub). The handler's own HTTP answers are tested in
// internal/web.
type env struct {
	t        *testing.T
	sim      *twitchsim.Sim
	simURL   string
	helix    *helix.Client
	sink     *recSink
	store    Store
	dedupe   webhook.Deduper
	verifier *webhook.Verifier
	public   *url.URL
	handler  atomic.Pointer[Manager]             // the Manager behind /callback/ (swapped for restarts)
	helixIn  atomic.Pointer[func(*http.Request)] // sees each request to the simulator's Helix
	front    atomic.Pointer[frontFunc]           // a proxy in front of /callback/ (verify_test.go)
	m        *Manager
	waits    atomic.Int32 // helix rate-limit waits
	helixHTC *http.Client
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, sink: newSink(), store: store.NewMemoryRelay(),
		dedupe: store.NewMemoryDedupe(store.MemoryDedupeConfig{TTL: webhook.DedupeTTL})}
	e.sim = twitchsim.New(twitchsim.Config{AllowInsecureCallbacks: true, RetryBackoff: -1})
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := e.helixIn.Load(); f != nil {
			(*f)(r)
		}
		e.sim.ServeHTTP(w, r)
	}))
	e.simURL = simSrv.URL
	mux := http.NewServeMux()
	mux.HandleFunc("/callback/{sid}", func(w http.ResponseWriter, r *http.Request) {
		if f := e.front.Load(); f != nil && (*f)(w, r) {
			return
		}
		e.receive(w, r, r.PathValue("sid"))
	})
	relaySrv := httptest.NewServer(mux)
	e.public, _ = url.Parse(relaySrv.URL)
	e.helixHTC = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	e.helix = helix.New(helix.Config{
		BaseURL: simSrv.URL + "/helix", ClientID: e.sim.ClientID(),
		AppToken: staticToken(e.sim.IssueAppToken().AccessToken), HTTPClient: e.helixHTC,
		Sleep:           func(ctx context.Context, d time.Duration) error { return ctx.Err() }, // waits are recorded, not slept
		OnRateLimitWait: func(time.Duration) { e.waits.Add(1) },
	})
	e.m = e.newManager(mod)
	t.Cleanup(func() { // runs after every Manager's own cleanup
		relaySrv.Close()
		simSrv.Close()
		e.sim.Close()
		e.helixHTC.CloseIdleConnections()
	})
	return e
}

// newManager builds a Manager on the env's Twitch, store and dedupe, and routes the callback
// server to it.
func (e *env) newManager(mod func(*Config)) *Manager {
	cfg := Config{PublicURL: e.public, ServerSecret: testSecret, Helix: e.helix, Hub: e.sink,
		Store: e.store, Lease: testLease, PollInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	m := NewManager(cfg)
	e.verifier = &webhook.Verifier{ServerSecret: testSecret, Dedupe: e.dedupe, Now: cfg.Now}
	e.handler.Store(m)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := m.Shutdown(ctx, true); err != nil {
			e.t.Logf("Shutdown: %v", err)
		}
	})
	return m
}

// testLease is the tests' SUBSCRIPTION_LEASE: the product's default.
const testLease = 1000 * time.Second

// receive is the callback: the straight line of internal/web's handler, answering as it does.
func (e *env) receive(w http.ResponseWriter, r *http.Request, sid string) {
	msg, err := e.verifier.Verify(r, sid)
	if err != nil && !(errors.Is(err, webhook.ErrDuplicate) && msg.Type == eventsub.MessageTypeVerification) {
		w.WriteHeader(webhook.StatusCode(err))
		return
	}
	rt, err := e.handler.Load().Route(r.Context(), sid, msg)
	switch {
	case err != nil:
		_ = e.verifier.Forget(context.WithoutCancel(r.Context()), msg)
		w.WriteHeader(http.StatusServiceUnavailable)
	case rt.Challenge != "":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, rt.Challenge)
	case rt.Refused:
		w.WriteHeader(http.StatusForbidden)
	default:
		if len(rt.To) > 0 {
			m, err := hub.EventMessage(rt.Event, time.Now())
			if err != nil {
				e.t.Errorf("encode %+v: %v", rt.Event, err)
			}
			e.sink.PublishTo(rt.To, m)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// session is a relay session of user watching streamer, with the user's token granting
// the scopes twitchrelay asks for.
func (e *env) session(userLogin, streamerLogin string) Session {
	e.t.Helper()
	u, ok := e.sim.User(userLogin)
	st, ok2 := e.sim.User(streamerLogin)
	if !ok || !ok2 {
		e.t.Fatalf("unknown simulated user %q or %q", userLogin, streamerLogin)
	}
	tok, err := e.sim.IssueUserToken(userLogin, "moderator:read:followers", "user:read:follows", "user:read:chat")
	if err != nil {
		e.t.Fatalf("IssueUserToken: %v", err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	return Session{ID: hex.EncodeToString(b), UserID: u.ID, UserLogin: u.Login,
		Streamer:  Streamer{ID: st.ID, Login: st.Login, DisplayName: st.DisplayName},
		UserToken: staticToken(tok.AccessToken), Scopes: tok.Scope}
}

// ensure runs SubscribeToAllEvents and waits until no feed is pending.
func (e *env) ensure(s Session) []FeedStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.m.SubscribeToAllEvents(ctx, s); err != nil {
		e.t.Fatalf("SubscribeToAllEvents: %v", err)
	}
	var got []FeedStatus
	e.sink.wait(e.t, "no feed pending", func() bool {
		got = e.sink.statuses[s.ID]
		for _, f := range got {
			if f.Status == StatusPending {
				return false
			}
		}
		return len(got) == len(feedOrder)
	})
	// We mark a feed active when we answer its challenge; Twitch enables it once it has read
	// the answer. Wait for that too, so triggers find it enabled.
	for _, sub := range e.simSubs(s.ID) {
		if _, err := e.sim.WaitVerified(ctx, sub.ID); err != nil {
			e.t.Fatalf("WaitVerified %s: %v", sub.Type, err)
		}
	}
	return got
}

// simSubs returns the simulator's subscriptions whose callback is the session's.
func (e *env) simSubs(sid string) []eventsub.Subscription {
	var out []eventsub.Subscription
	for _, s := range e.sim.Subscriptions() {
		if s.Transport.Callback == e.m.CallbackURL(sid) {
			out = append(out, s)
		}
	}
	return out
}

// waitGone waits until the simulator no longer has subscription id.
func (e *env) waitGone(id string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := e.sim.WaitSubscription(ctx, id, func(eventsub.Subscription) bool { return false })
	if ctx.Err() != nil {
		e.t.Fatalf("subscription %s still exists in the simulator: %v", id, err)
	}
}

func statusOf(feeds []FeedStatus, feed string) FeedStatus {
	for _, f := range feeds {
		if f.Feed == feed {
			return f
		}
	}
	return FeedStatus{}
}

// testRedis returns a client on the real Redis (internal/testing/redistest).
func testRedis(t *testing.T) redis.UniversalClient { return redistest.Client(t) }

type answerT struct {
	status int
	body   string
	header http.Header
}

// post sends a callback as Twitch would, signed with secret (the session's if "").
func (e *env) post(sid, msgType, id string, ts time.Time, body, secret string) answerT {
	e.t.Helper()
	if secret == "" {
		secret = webhook.Secret(testSecret, sid)
	}
	stamp := ts.UTC().Format(time.RFC3339Nano)
	req, _ := http.NewRequest(http.MethodPost, e.m.CallbackURL(sid), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(eventsub.HeaderMessageID, id)
	req.Header.Set(eventsub.HeaderMessageType, msgType)
	req.Header.Set(eventsub.HeaderMessageRetry, "0")
	req.Header.Set(eventsub.HeaderMessageTimestamp, stamp)
	req.Header.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(secret), id, stamp, []byte(body)))
	return e.do(req)
}

func (e *env) do(req *http.Request) answerT {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST callback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return answerT{resp.StatusCode, string(b), resp.Header}
}

func notificationBody(subID, typ string, cond string) string {
	return `{"subscription":{"id":"` + subID + `","status":"enabled","type":"` + typ + `","version":"1","condition":` + cond +
		`,"transport":{"method":"webhook","callback":"x"},"created_at":"2026-01-01T00:00:00Z"},` +
		`"event":{"broadcaster_user_id":"100001","broadcaster_user_login":"pixelpaladin","broadcaster_user_name":"PixelPaladin"}}`
}

func subOfType(t *testing.T, e *env, sid, typ string) eventsub.Subscription {
	t.Helper()
	for _, s := range e.simSubs(sid) {
		if s.Type == typ {
			return s
		}
	}
	t.Fatalf("no %s subscription for the session", typ)
	return eventsub.Subscription{}
}

// Forged requests: every one is 403 with the same body, whether or not the session exists,
// and nothing reaches the browser.

// newRedisEnv is newEnv with the relay state and the dedupe in the real Redis, under a prefix
// of the test's own: what two processes in a row share.
func newRedisEnv(t *testing.T) *env {
	t.Helper()
	e, _ := newSharedEnv(t)
	e.m = e.newManager(nil)
	return e
}

// newSharedEnv is newEnv with the relay state and the dedupe in the real Redis, and shares,
// which gives each instance name its view of one shared-subscription registry there (as
// several processes on one Redis have).
func newSharedEnv(t *testing.T) (e *env, shares func(instance string) *lock.Shares) {
	t.Helper()
	c := testRedis(t)
	keys := store.NewKeys(redistest.Prefix(t, c))
	e = newEnv(t, nil)
	e.store = store.NewRedisRelay(c, keys)
	e.dedupe = store.NewRedisDedupe(c, keys, webhook.DedupeTTL)
	return e, func(name string) *lock.Shares { return lock.NewShares(lock.NewRedis(c, keys, name)) }
}
