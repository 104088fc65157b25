package auth_test

import (
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"

	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
)

const redirectURL = "http://127.0.0.1:8080/auth"

// clock is a settable clock shared by the simulator and the client under test.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New(time.Now()) }

// countingTransport counts requests per URL path on our side of the wire.
type countingTransport struct {
	mu    sync.Mutex
	paths map[string]int
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.mu.Lock()
	ct.paths[r.URL.Path]++
	ct.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (ct *countingTransport) count(path string) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.paths[path]
}

// env is the simulator served over real HTTP plus an auth.Client pointed at it.
type env struct {
	sim    *twitchsim.Sim
	srv    *httptest.Server
	clock  *clock
	rt     *countingTransport
	logs   *syncBuffer
	client *auth.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: newClock(), rt: &countingTransport{paths: map[string]int{}}, logs: &syncBuffer{}}
	e.sim = twitchsim.New(twitchsim.Config{RedirectURIs: []string{redirectURL}, Now: e.clock.Now})
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(func() {
		e.srv.Close()
		e.sim.Close()
	})
	e.client = e.newClient(e.sim.ClientSecret())
	return e
}

// newClient returns a client with the given secret, logging at debug level into e.logs.
func (e *env) newClient(secret string) *auth.Client {
	return auth.New(auth.Config{
		ClientID:     e.sim.ClientID(),
		ClientSecret: secret,
		RedirectURL:  redirectURL,
		OAuthBaseURL: e.srv.URL + "/id/oauth2",
		HTTPClient:   &http.Client{Transport: e.rt},
		Logger:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          e.clock.Now,
	})
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)

// authorize plays the browser: it opens the authorize URL, picks login on the simulator's
// consent page, presses Authorize and returns the redirect back to us (not followed).
func (e *env) authorize(t *testing.T, state, login string) *url.URL {
	t.Helper()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(e.client.AuthCodeURL(state, false))
	if err != nil {
		t.Fatalf("GET authorize page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize page: status %d, want 200:\n%s", resp.StatusCode, page)
	}
	action := formAction.FindSubmatch(page)
	if action == nil {
		t.Fatalf("authorize page has no POST form:\n%s", page)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	form.Set("login", login)
	form.Set("action", "authorize")
	target, _ := url.Parse(e.srv.URL)
	target = target.ResolveReference(&url.URL{Path: html.UnescapeString(string(action[1]))})
	resp, err = browser.PostForm(target.String(), form)
	if err != nil {
		t.Fatalf("POST authorize form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize form: status %d, want 302:\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("redirect Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURL {
		t.Fatalf("redirected to %s, want %s", got, redirectURL)
	}
	return loc
}

// login runs the whole browser part and returns the authorization code.
func (e *env) login(t *testing.T, login string) string {
	t.Helper()
	state := auth.NewState()
	back := e.authorize(t, state, login)
	if !auth.StateEqual(state, back.Query().Get("state")) {
		t.Fatalf("state came back as %q, want %q", back.Query().Get("state"), state)
	}
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", back)
	}
	return code
}

type syncBuffer = syncbuf.Buffer

// assertNotLogged fails if any secret appears in the logs.
func (e *env) assertNotLogged(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.4s…) appears in the logs:\n%s", s, logs)
		}
	}
}
