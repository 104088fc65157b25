package securitytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Shared budgets and logs under abuse (docs/SECURITY.md): what a stranger, or one logged-in
// user, can make the server spend, with the bound and what everyone else sees meanwhile.

// TestCookieTossing: a request carrying the session cookie twice (a sibling subdomain set the
// attacker's own) is refused with a page saying what to do, and logs nobody in as the
// attacker; the victim's own cookie alone still works. On https the cookie is __Host-.
func TestCookieTossing(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	attacker := h.NewBrowser()
	if err := attacker.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	victim, _, _ := watcher(t, h, "pixelpaladin", "pixelpaladin")
	mine, theirs := cookieHeader(h, victim), cookieHeader(h, attacker)
	for _, c := range []string{theirs + "; " + mine, mine + "; " + theirs} {
		for _, path := range []string{"/enter_streamer", "/stream", "/"} {
			a := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+path, nil)), c))
			if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "two login cookies") {
				t.Errorf("GET %s with two session cookies = %d %.200q, want 400 naming the two cookies", path, a.Status, a.Body)
			}
			if strings.Contains(a.Body, "modmaria") || strings.Contains(a.Body, "PixelPaladin") {
				t.Errorf("GET %s with two session cookies shows a login: %.300q", path, a.Body)
			}
		}
	}
	if a := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/stream", nil)), mine)); a.Status != http.StatusOK {
		t.Errorf("the victim's own cookie alone: /stream = %d", a.Status)
	}

	hs := apptest.Start(t, apptest.Options{Env: map[string]string{"PUBLIC_URL": "https://relay.example.com"}})
	sc := do(t, must(http.NewRequest(http.MethodGet, hs.URL+"/login", nil))).Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-twitchrelay_session=") || !strings.Contains(sc, "Path=/") || strings.Contains(sc, "Domain") || !strings.Contains(sc, "Secure") {
		t.Errorf("https Set-Cookie %q: want __Host-twitchrelay_session, Path=/, Secure, no Domain", sc)
	}
	t.Logf("observed: two session cookies (either order) → 400 on 3 pages, no login shown; one cookie → 200; https cookie %q", strings.SplitN(sc, "=", 2)[0])
}

// TestReadyzFloodWhileTwitchIsDown: with Twitch's token endpoint failing and Redis
// unreachable, 2,000 calls to /readyz (8 at a time) cost Twitch a handful of app-token
// requests, not one each, and the body names the failing checks without their reasons (no
// upstream error, no Redis address); the reasons are in the log. A watcher's feed keeps
// delivering meanwhile.
func TestReadyzFloodWhileTwitchIsDown(t *testing.T) {
	sim := twitchsim.New(twitchsim.Config{ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret,
		AllowInsecureCallbacks: true, RetryBackoff: time.Millisecond})
	var tokenCalls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/id/oauth2/token" {
			tokenCalls.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { sim.Close(); srv.Close() })
	h := apptest.Start(t, apptest.Options{Sim: sim, SimURL: srv.URL})
	_, s, _ := watcher(t, h, "modmaria", "pixelpaladin")

	// Twitch's token endpoint fails from now on; a second relay, which holds no app token
	// yet, has a Redis that is not there: its address must not be shown.
	sim.InjectFault(twitchsim.Fault{Path: "/id/oauth2/token", Method: http.MethodPost, Status: http.StatusServiceUnavailable, Count: 1 << 20})
	dead := "127.0.0.1:1"
	hr := apptest.Start(t, apptest.Options{Sim: sim, SimURL: srv.URL, RedisURL: "redis://" + dead + "/0"})
	before := tokenCalls.Load()
	const calls, workers = 2000, 8
	var bodies sync.Map
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < calls; i += workers {
				a := do(t, must(http.NewRequest(http.MethodGet, hr.URL+"/readyz", nil)))
				if a.Status != http.StatusServiceUnavailable {
					t.Errorf("/readyz with Twitch down = %d %s", a.Status, a.Body)
					return
				}
				bodies.Store(strings.TrimSpace(a.Body), true)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	got := tokenCalls.Load() - before
	if limit := int64(took/(2*time.Second)) + 3; got > limit { // one fetch per cache period, and the start-up reconcile's
		t.Errorf("%d /readyz calls in %v asked Twitch for an app token %d times, want at most %d", calls, took.Round(time.Millisecond), got, limit)
	}
	bodies.Range(func(k, _ any) bool {
		b := k.(string)
		for _, leak := range []string{dead, "dial", "refused", "503", "Service Unavailable", "token"} {
			if strings.Contains(b, leak) {
				t.Errorf("/readyz body %q shows %q", b, leak)
			}
		}
		return true
	})
	for _, want := range []string{"readiness check failed", dead} {
		if !strings.Contains(hr.Logs.String()+h.Logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "during the readyz flood", "")
	expectTitle(t, s, "during the readyz flood")
	var shown []string
	bodies.Range(func(k, _ any) bool { shown = append(shown, k.(string)); return true })
	t.Logf("observed: %d /readyz calls in %v → %d app-token requests at Twitch; bodies %q; the watcher got its event", calls, took.Round(time.Millisecond), got, shown)
}
