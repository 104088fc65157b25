package twitchsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
)

const testRedirect = "http://127.0.0.1:8080/auth"

// env is a simulator served over real HTTP, as a client sees it.
type env struct {
	t     *testing.T
	sim   *Sim
	srv   *httptest.Server
	clock *fakeclock.Clock
}

// newEnv starts a simulator with a fake clock, loopback callbacks allowed and no retry
// backoff; mod may change the config first.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	clock := fakeclock.New(time.Now().UTC())
	cfg := Config{
		RedirectURIs:           []string{testRedirect},
		AllowInsecureCallbacks: true,
		RetryBackoff:           -1,
		Now:                    clock.Now,
		Seed:                   42,
	}
	if mod != nil {
		mod(&cfg)
	}
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &env{t: t, sim: sim, srv: srv, clock: clock}
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// errBody decodes either error shape.
func (r result) message(t *testing.T) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	r.json(t, &e)
	return e.Message
}

func (e *env) do(req *http.Request) result {
	e.t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, body}
}

func (e *env) postForm(path string, form url.Values) result {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

func (e *env) get(path string) result {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	return e.do(req)
}

// helix calls a Helix endpoint with a token and the simulator's client id.
func (e *env) helix(method, path, tok string, body any) result {
	e.t.Helper()
	return e.helixAs(method, path, tok, e.sim.ClientID(), body)
}

func (e *env) helixAs(method, path, tok, clientID string, body any) result {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/helix"+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if clientID != "" {
		req.Header.Set("Client-Id", clientID)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.do(req)
}

// appToken gets an app token over HTTP (client_credentials).
func (e *env) appToken() string {
	e.t.Helper()
	r := e.postForm("/id/oauth2/token", url.Values{"client_id": {e.sim.ClientID()},
		"client_secret": {e.sim.ClientSecret()}, "grant_type": {"client_credentials"}})
	if r.status != http.StatusOK {
		e.t.Fatalf("client_credentials: %d %s", r.status, r.body)
	}
	var tok Token
	r.json(e.t, &tok)
	return tok.AccessToken
}

// authorize runs the consent page as a person would and returns the redirect location.
func (e *env) authorize(login, action string, scopes ...string) *url.URL {
	e.t.Helper()
	form := url.Values{"client_id": {e.sim.ClientID()}, "redirect_uri": {testRedirect},
		"response_type": {"code"}, "scope": {strings.Join(scopes, " ")}, "state": {"st4te"},
		"force_verify": {"false"}, "action": {action}}
	if login != "" {
		form.Set("login", login)
	}
	r := e.postForm("/id/oauth2/authorize", form)
	if r.status != http.StatusFound {
		e.t.Fatalf("authorize: status %d, want 302; body %s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

// exchange trades a code for tokens.
func (e *env) exchange(code string) result {
	e.t.Helper()
	return e.postForm("/id/oauth2/token", url.Values{"client_id": {e.sim.ClientID()},
		"client_secret": {e.sim.ClientSecret()}, "code": {code}, "grant_type": {"authorization_code"},
		"redirect_uri": {testRedirect}})
}

// userToken runs the whole authorization code flow over HTTP.
func (e *env) userToken(login string, scopes ...string) Token {
	e.t.Helper()
	loc := e.authorize(login, "authorize", scopes...)
	r := e.exchange(loc.Query().Get("code"))
	if r.status != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	var tok Token
	r.json(e.t, &tok)
	return tok
}

func (e *env) userID(login string) string {
	e.t.Helper()
	u, ok := e.sim.User(login)
	if !ok {
		e.t.Fatalf("no seeded user %q", login)
	}
	return u.ID
}

// subscribe creates a webhook subscription and waits until its verification finished.
func (e *env) subscribe(app, typ string, cond eventsub.Condition, callback, secret string) eventsub.Subscription {
	e.t.Helper()
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, eventsub.CreateRequest{
		Type: typ, Version: eventsub.Version(typ), Condition: cond,
		Transport: eventsub.Transport{Method: "webhook", Callback: callback, Secret: secret}})
	if r.status != http.StatusAccepted {
		e.t.Fatalf("create %s: %d %s", typ, r.status, r.body)
	}
	var lr eventsub.ListResponse
	r.json(e.t, &lr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := e.sim.WaitVerified(ctx, lr.Data[0].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}
