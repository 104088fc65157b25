package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

func TestLoginFlowReachesStreamPage(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()

	status, body, err := b.Get("/")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET / = %d, %v", status, err)
	}
	if !strings.Contains(body, `href="/login"`) || !strings.Contains(body, "Log in with Twitch") {
		t.Fatalf("landing page has no login link:\n%.500s", body)
	}
	au, err := b.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	// The chat highlights feed reads chat notifications as the viewer: the login asks for it
	// and the landing page says why before the person clicks.
	if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "user:read:chat") {
		t.Errorf("authorize URL asks for %v, want user:read:chat among them", scopes)
	}
	if !strings.Contains(body, "chat notifications (subs, gifts, raids, announcements)") || !strings.Contains(body, "Chat highlights") ||
		!strings.Contains(body, "untick it, every other feed still works") {
		t.Errorf("the landing page does not say why it asks to read chat notifications:\n%.1500s", body)
	}
	if q.Get("client_id") != apptest.ClientID || q.Get("redirect_uri") != h.URL+"/auth" || q.Get("state") == "" || q.Get("response_type") != "code" {
		t.Fatalf("authorize URL lacks what Twitch needs: %s", au)
	}
	pre := sessionCookie(t, b, h)
	back, err := b.Consent(au, "pixelpaladin", "authorize")
	if err != nil {
		t.Fatal(err)
	}
	status, body, err = b.Get(back.String())
	if err != nil || status != http.StatusOK || !strings.Contains(body, "Choose a streamer") {
		t.Fatalf("after consent: %d %v\n%.400s", status, err, body)
	}
	if post := sessionCookie(t, b, h); post == pre {
		t.Error("session token was not renewed at login (fixation)")
	}
	if !strings.Contains(body, "PixelPaladin") {
		t.Error("the form page does not show who is logged in")
	}
	status, body, err = b.ChooseStreamer("cozycrafter")
	if err != nil || status != http.StatusOK {
		t.Fatalf("choose streamer = %d, %v", status, err)
	}
	for _, want := range []string{"CozyCrafter", `id="events"`, `aria-live="polite"`, "Waiting for events"} {
		if !strings.Contains(body, want) {
			t.Errorf("stream page lacks %q", want)
		}
	}
	// The landing page now knows who you are.
	_, body, _ = b.Get("/")
	if !strings.Contains(body, "Signed in as") || !strings.Contains(body, "Back to CozyCrafter") {
		t.Errorf("landing page for a logged-in user:\n%.600s", body)
	}
}

func sessionCookie(t *testing.T, b *apptest.Browser, h *apptest.Harness) string {
	t.Helper()
	u, _ := url.Parse(h.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "twitchrelay_session" {
			return c.Value
		}
	}
	return ""
}

func TestLoginErrors(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})

	t.Run("denied consent", func(t *testing.T) {
		b := h.NewBrowser()
		au, err := b.Authorize()
		if err != nil {
			t.Fatal(err)
		}
		back, err := b.Consent(au, "lurker_lou", "cancel")
		if err != nil {
			t.Fatal(err)
		}
		if back.Query().Get("error") != "access_denied" {
			t.Fatalf("simulator redirect = %s", back)
		}
		status, body, _ := b.Get(back.String())
		if status != http.StatusForbidden || !strings.Contains(body, "Twitch login was cancelled") || !strings.Contains(body, `href="/login"`) {
			t.Fatalf("denied consent = %d:\n%.500s", status, body)
		}
	})
	t.Run("missing state", func(t *testing.T) {
		b := h.NewBrowser()
		status, body, _ := b.Get("/auth?code=abc")
		if status != http.StatusBadRequest || !strings.Contains(body, "That login link has expired") {
			t.Fatalf("no state = %d:\n%.300s", status, body)
		}
	})
	t.Run("state from another session", func(t *testing.T) {
		victim, attacker := h.NewBrowser(), h.NewBrowser()
		au, _ := attacker.Authorize()
		back, err := attacker.Consent(au, "h4x0r", "authorize")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := victim.Authorize(); err != nil { // the victim has a state of its own
			t.Fatal(err)
		}
		status, body, _ := victim.Get(back.String()) // login CSRF: the attacker's code and state
		if status != http.StatusBadRequest || strings.Contains(body, "h4x0r") {
			t.Fatalf("foreign state = %d:\n%.300s", status, body)
		}
	})
	t.Run("reused state and code", func(t *testing.T) {
		b := h.NewBrowser()
		au, _ := b.Authorize()
		back, err := b.Consent(au, "chatterbox42", "authorize")
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := b.Get(back.String()); status != http.StatusOK {
			t.Fatalf("first use = %d", status)
		}
		if status, _, _ := b.Get(back.String()); status != http.StatusBadRequest {
			t.Fatalf("replayed /auth = %d, want 400 (state is single use)", status)
		}
		// The same code with a fresh, valid state: Twitch refuses the code.
		au2, _ := b.Authorize()
		replay := *back
		q := replay.Query()
		q.Set("state", au2.Query().Get("state"))
		replay.RawQuery = q.Encode()
		status, body, _ := b.Get(replay.String())
		if status != http.StatusBadRequest || !strings.Contains(body, "Twitch did not accept the login") {
			t.Fatalf("reused code = %d:\n%.300s", status, body)
		}
	})
}

func TestStreamerForm(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, input string
		status      int
		want        string
	}{
		{"too short", "abc", http.StatusUnprocessableEntity, "That is not a Twitch name"},
		{"bad characters", "no-such<name>", http.StatusUnprocessableEntity, "That is not a Twitch name"},
		{"too long", strings.Repeat("a", 26), http.StatusUnprocessableEntity, "That is not a Twitch name"},
		{"unknown", "nobody_here_123", http.StatusUnprocessableEntity, "No Twitch channel is called"},
		{"known, any case", "NightOwl_TV", http.StatusOK, "NightOwl_TV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := b.ChooseStreamer(tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%q = %d, want %d with %q:\n%.400s", tt.input, status, tt.status, tt.want, body)
			}
			if strings.Contains(body, "<name>") {
				t.Fatal("the input was echoed as HTML")
			}
		})
	}
	t.Run("no csrf token", func(t *testing.T) {
		resp, body, err := b.PostForm("/enter_streamer", url.Values{"streamer": {"cozycrafter"}})
		if err != nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
			t.Fatalf("no token = %v %v", resp.StatusCode, err)
		}
	})
	t.Run("cross-site post", func(t *testing.T) {
		token, _ := b.CSRF("/enter_streamer")
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/enter_streamer", strings.NewReader(url.Values{"csrf_token": {token}, "streamer": {"cozycrafter"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST = %d, want 403", resp.StatusCode)
		}
	})
}

func TestRedirectsToTheMissingStep(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	noFollow := *b.Client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	loc := func(path string) string {
		resp, err := noFollow.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	if got := loc("/stream"); got != "/" {
		t.Errorf("/stream logged out → %q, want /", got)
	}
	if got := loc("/enter_streamer"); got != "/" {
		t.Errorf("/enter_streamer logged out → %q, want /", got)
	}
	if err := b.Login("quietquinn"); err != nil {
		t.Fatal(err)
	}
	if got := loc("/stream"); got != "/enter_streamer" {
		t.Errorf("/stream without streamer → %q, want /enter_streamer", got)
	}
	status, body, _ := b.Get("/nope")
	if status != http.StatusNotFound || !strings.Contains(body, "Page not found") {
		t.Errorf("/nope = %d", status)
	}
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(5 * time.Hour) // user tokens last 4 h on the simulator, as on Twitch
	status, body, err := b.ChooseStreamer("pixelpaladin")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "PixelPaladin") {
		t.Fatalf("after expiry = %d %v:\n%.300s", status, err, body)
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("gamergrace"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sim.RevokeUser(t.Context(), "gamergrace"); err != nil {
		t.Fatal(err)
	}
	token, err := b.CSRF("/enter_streamer") // no Twitch call: validated within the hour
	if err != nil {
		t.Fatal(err)
	}
	resp, body, _ := b.PostForm("/enter_streamer", url.Values{"csrf_token": {token}, "streamer": {"nightowl_tv"}})
	if status := resp.StatusCode; status != http.StatusUnauthorized || !strings.Contains(body, "Your Twitch login has ended") {
		t.Fatalf("after revocation = %d:\n%.300s", resp.StatusCode, body)
	}
	// The session is gone: the landing page offers to log in again.
	_, body, _ = b.Get("/")
	if !strings.Contains(body, "Log in with Twitch") {
		t.Error("the session survived a revoked token")
	}
}

func TestLogout(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("speedy_sam"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := b.ChooseStreamer("speedy_sam"); status != http.StatusOK {
		t.Fatal("choose streamer failed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sock, err := b.Connect(ctx, "", 0) // stream_connected subscribes
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	apptest.Wait(t, 10*time.Second, "subscriptions enabled", func() bool { return countSubs(h, "enabled") >= 4 })
	if status, err := b.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("logout = %d %v", status, err)
	}
	if n := countSubs(h, ""); n != 0 {
		t.Errorf("%d subscriptions left in Twitch after logout", n)
	}
	_, body, _ := b.Get("/")
	if !strings.Contains(body, "Log in with Twitch") {
		t.Error("still logged in after logout")
	}
}

func countSubs(h *apptest.Harness, status string) int {
	n := 0
	for _, s := range h.Sim.Subscriptions() {
		if status == "" || s.Status == status {
			n++
		}
	}
	return n
}

func TestCookieFlags(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Env: map[string]string{"PUBLIC_URL": "https://relay.example.com"}})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(h.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An anonymous /login sets only the signed, short-lived state cookie, no session.
	sc := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"twitchrelay_oauth=", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "twitchrelay_session=") {
		t.Errorf("anonymous /login set a session cookie: %q", sc)
	}
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, url.QueryEscape("https://relay.example.com/auth")) {
		t.Errorf("redirect_uri does not come from PUBLIC_URL: %s", loc)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	resp, err := http.Get(h.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Error("CSP allows inline script or style")
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
		t.Errorf("missing nosniff or Referrer-Policy: %v", resp.Header)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
