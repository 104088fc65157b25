package securitytest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
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
