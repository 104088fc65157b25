package securitytest

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

var linkRe = regexp.MustCompile(`(?i)(?:href|src|action|formaction)\s*=\s*"([^"]*)"`)

// offSite reports whether ref, found on a relay page or in a Location, leads off the relay,
// except to allowed: what the page may legitimately link to.
func offSite(h *apptest.Harness, ref string, allowed ...string) bool {
	ref = strings.TrimSpace(strings.ReplaceAll(ref, "&amp;", "&"))
	for _, a := range allowed {
		if strings.HasPrefix(ref, a) {
			return false
		}
	}
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") && !strings.HasPrefix(ref, `/\`) {
		return false
	}
	if strings.HasPrefix(ref, "#") || ref == "" || strings.HasPrefix(ref, "data:image/") {
		return false
	}
	u, err := url.Parse(ref)
	return err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host != mustURL(h.URL).Host
}

// TestNoOpenRedirects tries redirect-ish parameters and paths on every page, logged out and
// logged in: no Location and no link, form or retry link on the answer may leave the site,
// except /login's one redirect to Twitch's authorize page with our own redirect_uri.
func TestNoOpenRedirects(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	authorize := h.SimURL + "/id/oauth2/authorize?"
	allowed := []string{"https://player.twitch.tv/", "https://static-cdn.jtvnw.net/", authorize} // the 302's body repeats its Location
	evil := []string{"//evil.example", "https://evil.example/", `/\evil.example`, "/%2F%2Fevil.example", "javascript:alert(1)"}
	for _, e := range []string{"//evil.example", "https://evil.example/", `/\evil.example`, "javascript:alert(1)", `\\evil.example`, " //evil.example"} {
		if !offSite(h, e) { // the check itself can fail
			t.Fatalf("offSite(%q) = false", e)
		}
	}
	var targets []string
	for _, e := range evil {
		q := url.QueryEscape(e)
		targets = append(targets, "/login?next="+q, "/login?redirect_uri="+q, "/login?return_to="+q+"&force_verify=true",
			"/auth?redirect="+q, "/auth?error=access_denied&state=x&redirect="+q, "/auth?code=x&state=y&next="+q,
			"/enter_streamer?next="+q, "/stream?next="+q, "/?next="+q)
	}
	targets = append(targets, "//evil.example", "//evil.example/login", "///evil.example", `/\evil.example`, `/\/evil.example`,
		"/%2F%2Fevil.example", "/%5Cevil.example", "/static/..%2F..%2F..%2Fevil", "/login/..//evil.example",
		"/callback/x?redirect=//evil.example", "/.%2e/evil.example")
	check := func(who string, b *apptest.Browser) {
		for _, target := range targets {
			req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
			req.URL.Opaque = target // sent exactly as written, not cleaned
			if c := cookieHeader(h, b); c != "" {
				req.Header.Set("Cookie", c)
			}
			a := do(t, req)
			if loc := a.Header.Get("Location"); loc != "" {
				if strings.HasPrefix(loc, authorize) {
					ru := mustURL(loc).Query().Get("redirect_uri")
					if ru != h.URL+"/auth" || mustURL(loc).Query().Get("next") != "" {
						t.Errorf("%s GET %s: authorize redirect_uri %q", who, target, ru)
					}
				} else if offSite(h, loc) {
					t.Errorf("%s GET %s: Location %q leaves the site", who, target, loc)
				}
			}
			for _, m := range linkRe.FindAllStringSubmatch(a.Body, -1) {
				if offSite(h, m[1], allowed...) {
					t.Errorf("%s GET %s (%d): link %q leaves the site", who, target, a.Status, m[1])
				}
			}
		}
	}
	check("logged out", h.NewBrowser())
	check("logged in", loggedIn(t, h, "modmaria", "pixelpaladin"))
	check("logged in without streamer", loggedIn(t, h, "quietquinn", ""))
}

// TestSessionFixation: a cookie value an attacker got (or made up) and planted in a victim's
// browser before the login is replaced at login, and after it grants the attacker nothing.
func TestSessionFixation(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	attacker := h.NewBrowser()
	if _, err := attacker.Authorize(); err != nil { // a real, issued cookie
		t.Fatal(err)
	}
	issued := sessionCookie(h, attacker)
	for name, planted := range map[string]string{"issued to the attacker": issued, "made up": "fixatedFixatedFixatedFixatedFixatedFixated0"} {
		t.Run(name, func(t *testing.T) {
			victim := h.NewBrowser()
			victim.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: "twitchrelay_session", Value: planted, Path: "/"}})
			if err := victim.Login("modmaria"); err != nil {
				t.Fatal(err)
			}
			if got := sessionCookie(h, victim); got == planted || got == "" {
				t.Fatalf("session cookie after login is %q: not renewed", got)
			}
			req, _ := http.NewRequest(http.MethodGet, h.URL+"/enter_streamer", nil)
			req.Header.Set("Cookie", "twitchrelay_session="+planted)
			if a := do(t, req); a.Status == http.StatusOK || strings.Contains(a.Body, "ModMaria") {
				t.Fatalf("the planted cookie opens the victim's session: %d", a.Status)
			}
			if _, code := dialWS(t, h, h.URL, "twitchrelay_session="+planted); code != 4401 {
				t.Fatalf("the planted cookie opens a socket: close %d", code)
			}
		})
	}
}

func sessionCookie(h *apptest.Harness, b *apptest.Browser) string {
	for _, c := range b.Jar.Cookies(mustURL(h.URL)) {
		if c.Name == "twitchrelay_session" {
			return c.Value
		}
	}
	return ""
}

// TestCookieAttributes: every session cookie set during a whole journey is HttpOnly,
// SameSite=Lax and Path=/, Secure when PUBLIC_URL is https (with HSTS), and logout expires it.
func TestCookieAttributes(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	rec := recordBrowser(b)
	if err := b.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	b.ChooseStreamer("pixelpaladin")
	b.Logout()
	var n int
	var expired bool
	for _, x := range rec.exchanges() {
		for _, sc := range x.Header.Values("Set-Cookie") {
			if !strings.HasPrefix(sc, "twitchrelay_session=") {
				continue
			}
			n++
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(sc, want) {
					t.Errorf("%s %s: Set-Cookie %q lacks %s", x.Method, x.URL, sc, want)
				}
			}
			expired = expired || strings.Contains(sc, "Max-Age=0") || strings.Contains(sc, "1970")
		}
	}
	if n < 2 || !expired {
		t.Errorf("%d session cookies set; expired at logout: %v", n, expired)
	}
	hs := apptest.Start(t, apptest.Options{Env: map[string]string{"PUBLIC_URL": "https://relay.example.com"}})
	a := do(t, must(http.NewRequest(http.MethodGet, hs.URL+"/login", nil)))
	if sc := a.Header.Get("Set-Cookie"); !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") {
		t.Errorf("https: Set-Cookie %q", sc)
	}
	if hsts := a.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("https: no HSTS (%q)", hsts)
	}
	t.Logf("observed: %d session cookies in the journey, all HttpOnly; SameSite=Lax; Path=/; Secure+HSTS with https", n)
}

func must(r *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return r
}
