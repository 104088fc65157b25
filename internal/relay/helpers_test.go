package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// recSink records what the relay hands the browser side.
type recSink struct {
	mu       sync.Mutex
	events   map[string][]webhook.Event
	statuses map[string][]FeedStatus
	changed  chan struct{}
	panics   atomic.Int32 // panic on the next n events
}

func newSink() *recSink {
	return &recSink{events: map[string][]webhook.Event{}, statuses: map[string][]FeedStatus{}, changed: make(chan struct{})}
}

func (s *recSink) Event(sid string, ev webhook.Event) {
	if s.panics.Add(-1) >= 0 {
		panic("sink exploded")
	}
	s.panics.Store(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[sid] = append(s.events[sid], ev)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *recSink) Status(sid string, feeds []FeedStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[sid] = feeds
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
			t.Fatalf("timed out waiting for %s", what)
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

// env is the simulator as Twitch over real HTTP, and the relay's callback receiver on
// another real HTTP server.
type env struct {
	t        *testing.T
	sim      *twitchsim.Sim
	simURL   string
	helix    *helix.Client
	sink     *recSink
	store    Store
	dedupe   webhook.Deduper
	public   *url.URL
	handler  atomic.Pointer[Manager]   // the Manager behind /callback/ (swapped for restarts)
	front    atomic.Pointer[frontFunc] // a proxy in front of /callback/ (verify_test.go)
	m        *Manager
	waits    atomic.Int32 // helix rate-limit waits
	helixHTC *http.Client
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, sink: newSink(), store: NewMemoryStore(),
		dedupe: webhook.NewMemoryDeduper(webhook.MemoryDedupeConfig{})}
	e.sim = twitchsim.New(twitchsim.Config{AllowInsecureCallbacks: true, RetryBackoff: -1})
	simSrv := httptest.NewServer(e.sim)
	e.simURL = simSrv.URL
	mux := http.NewServeMux()
	mux.HandleFunc("/callback/{sid}", func(w http.ResponseWriter, r *http.Request) {
		if f := e.front.Load(); f != nil && (*f)(w, r) {
			return
		}
		e.handler.Load().HandleCallback(w, r, r.PathValue("sid"))
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
	cfg := Config{PublicURL: e.public, ServerSecret: testSecret, Helix: e.helix, Sink: e.sink,
		Store: e.store, Dedupe: e.dedupe, PollInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	m := NewManager(cfg)
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

// session is a relay session of user watching streamer, with the user's token granting
// the scopes twitchrelay asks for.
func (e *env) session(userLogin, streamerLogin string) Session {
	e.t.Helper()
	u, ok := e.sim.User(userLogin)
	st, ok2 := e.sim.User(streamerLogin)
	if !ok || !ok2 {
		e.t.Fatalf("unknown simulated user %q or %q", userLogin, streamerLogin)
	}
	tok, err := e.sim.IssueUserToken(userLogin, "moderator:read:followers", "user:read:follows")
	if err != nil {
		e.t.Fatalf("IssueUserToken: %v", err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	return Session{ID: hex.EncodeToString(b), UserID: u.ID, UserLogin: u.Login,
		Streamer:  Streamer{ID: st.ID, Login: st.Login, DisplayName: st.DisplayName},
		UserToken: staticToken(tok.AccessToken)}
}

// ensure runs Ensure and waits until no feed is pending.
func (e *env) ensure(s Session) []FeedStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.m.Ensure(ctx, s); err != nil {
		e.t.Fatalf("Ensure: %v", err)
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

// testRedis returns a client on the real Redis (internal/redistest).
func testRedis(t *testing.T) redis.UniversalClient { return redistest.Client(t) }

// redisPrefix is a key prefix unique to the test; its keys are deleted afterwards.
func redisPrefix(t *testing.T, c redis.UniversalClient) string {
	b := make([]byte, 6)
	rand.Read(b)
	p := "twitchrelay:test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}
