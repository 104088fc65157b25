package helix_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// clock is a settable clock shared by the simulator and the clients under test. It starts
// a quarter second past a whole second, so waits derived from Ratelimit-Reset (whole
// seconds) are exact numbers.
type clock = fakeclock.Clock

func newClock() *clock {
	return fakeclock.New(time.Now().Truncate(time.Second).Add(250 * time.Millisecond))
}

// observation is one HTTP attempt reported through Config.Observe.
type observation struct {
	endpoint string
	status   int
}

// env is the simulator over real HTTP, an auth.Client for tokens and the helix.Client
// under test. By default the client's Sleep records the wait and advances the shared
// clock instead of sleeping, so the simulator's bucket refills as if time had passed.
type env struct {
	sim    *twitchsim.Sim
	srv    *httptest.Server
	clock  *clock
	auth   *auth.Client
	client *helix.Client

	mu       sync.Mutex
	sleeps   []time.Duration // every Sleep call
	rlWaits  []time.Duration // every OnRateLimitWait call
	observed []observation
}

type options struct {
	sim   func(*twitchsim.Config)
	helix func(*helix.Config)
}

func newEnv(t *testing.T, opts ...options) *env {
	t.Helper()
	e := &env{clock: newClock()}
	simCfg := twitchsim.Config{AllowInsecureCallbacks: true, Now: e.clock.Now}
	for _, o := range opts {
		if o.sim != nil {
			o.sim(&simCfg)
		}
	}
	e.sim = twitchsim.New(simCfg)
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(func() {
		e.srv.Close()
		e.sim.Close()
	})
	e.auth = auth.New(auth.Config{
		ClientID:     e.sim.ClientID(),
		ClientSecret: e.sim.ClientSecret(),
		RedirectURL:  "http://127.0.0.1/auth",
		OAuthBaseURL: e.srv.URL + "/id/oauth2",
		Now:          e.clock.Now,
	})
	cfg := helix.Config{
		BaseURL:  e.srv.URL + "/helix",
		ClientID: e.sim.ClientID(),
		AppToken: e.auth.AppTokenSource(),
		Now:      e.clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			e.sleeps = append(e.sleeps, d)
			e.mu.Unlock()
			e.clock.Advance(d)
			return ctx.Err()
		},
		Observe: func(endpoint string, status int, _ time.Duration) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.observed = append(e.observed, observation{endpoint, status})
		},
		OnRateLimitWait: func(d time.Duration) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.rlWaits = append(e.rlWaits, d)
		},
	}
	for _, o := range opts {
		if o.helix != nil {
			o.helix(&cfg)
		}
	}
	e.client = helix.New(cfg)
	return e
}

func (e *env) sleepCalls() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

func (e *env) rateLimitWaits() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.rlWaits...)
}

func (e *env) statuses() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []int
	for _, o := range e.observed {
		s = append(s, o.status)
	}
	return s
}

// userToken grants scopes to login in the simulator (the browser flow is tested in
// internal/auth) and returns a refreshing token source plus the tokens it refreshed to.
func (e *env) userToken(t *testing.T, login string, scopes ...string) (*auth.UserTokenSource, auth.Token, func() []auth.Token) {
	t.Helper()
	st, err := e.sim.IssueUserToken(login, scopes...)
	if err != nil {
		t.Fatalf("IssueUserToken(%s): %v", login, err)
	}
	tok := auth.Token{AccessToken: st.AccessToken, RefreshToken: st.RefreshToken,
		Expiry: e.clock.Now().Add(time.Duration(st.ExpiresIn) * time.Second), Scopes: st.Scope}
	var mu sync.Mutex
	var refreshed []auth.Token
	src := e.auth.UserTokenSource(tok, func(nt auth.Token) {
		mu.Lock()
		defer mu.Unlock()
		refreshed = append(refreshed, nt)
	})
	return src, tok, func() []auth.Token {
		mu.Lock()
		defer mu.Unlock()
		return append([]auth.Token(nil), refreshed...)
	}
}

// callbackServer is our side of EventSub: it answers correctly signed challenges.
type callbackServer struct {
	srv    *httptest.Server
	secret string

	mu         sync.Mutex
	challenged map[string]bool // subscription ids whose challenge was answered
	forged     int             // requests with a bad signature
}

func newCallbackServer(t *testing.T) *callbackServer {
	t.Helper()
	cb := &callbackServer{secret: "s3cret-for-tests-0123456789", challenged: map[string]bool{}}
	cb.srv = httptest.NewServer(http.HandlerFunc(cb.serve))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callbackServer) url() string { return cb.srv.URL + "/callback/test-session" }

func (cb *callbackServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	if !eventsub.ValidSignature([]byte(cb.secret), r.Header.Get(eventsub.HeaderMessageID),
		r.Header.Get(eventsub.HeaderMessageTimestamp), body, r.Header.Get(eventsub.HeaderMessageSignature)) {
		cb.mu.Lock()
		cb.forged++
		cb.mu.Unlock()
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if r.Header.Get(eventsub.HeaderMessageType) != eventsub.MessageTypeVerification {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var m struct {
		Challenge    string                `json:"challenge"`
		Subscription eventsub.Subscription `json:"subscription"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "json", http.StatusBadRequest)
		return
	}
	cb.mu.Lock()
	cb.challenged[m.Subscription.ID] = true
	cb.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, m.Challenge)
}

func (cb *callbackServer) forgedCount() int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.forged
}

func (cb *callbackServer) wasChallenged(id string) bool {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.challenged[id]
}

// request returns a webhook CreateRequest for this callback server.
func (cb *callbackServer) request(typ string, cond eventsub.Condition) eventsub.CreateRequest {
	return eventsub.CreateRequest{
		Type: typ, Version: eventsub.Version(typ), Condition: cond,
		Transport: eventsub.Transport{Method: "webhook", Callback: cb.url(), Secret: cb.secret},
	}
}

// Both auth token sources are what the Helix client consumes.
var (
	_ helix.TokenSource = (*auth.AppTokenSource)(nil)
	_ helix.TokenSource = (*auth.UserTokenSource)(nil)
)
