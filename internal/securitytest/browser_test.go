package securitytest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// loggedIn is a browser logged in as login that chose streamer (no socket).
func loggedIn(t testing.TB, h *apptest.Harness, login, streamer string) *apptest.Browser {
	t.Helper()
	b := h.NewBrowser()
	if err := b.Login(login); err != nil {
		t.Fatal(err)
	}
	if streamer != "" {
		if status, body, err := b.ChooseStreamer(streamer); err != nil || status != http.StatusOK {
			t.Fatalf("choose %s = %d %v\n%.300s", streamer, status, err, body)
		}
	}
	return b
}

// dialWS opens /ws with the given Origin and Cookie headers and returns the HTTP status of a
// refused handshake, or the close code the server sent after stream_connected (0 when it
// sent a frame instead: the socket is live).
func dialWS(t testing.TB, h *apptest.Harness, origin, cookie string) (status int, code websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	if cookie != "" {
		hdr.Set("Cookie", cookie)
	}
	c, resp, err := websocket.Dial(ctx, "ws://"+h.Addr+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode, -1
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"stream_connected","epoch":"","last_seq":0}`))
	if _, _, err = c.Read(ctx); err != nil {
		return http.StatusSwitchingProtocols, websocket.CloseStatus(err)
	}
	return http.StatusSwitchingProtocols, 0 // a frame (welcome): the socket is live
}

// TestSocketRefusesForeignOriginsAndStaleCookies: origins that only look like ours get 403
// before any upgrade; a logged-out cookie and a cookie without a chosen streamer get 4401.
// (A plain foreign origin, no cookie and a forged cookie: internal/web TestSocketRefusals.)
func TestSocketRefusesForeignOriginsAndStaleCookies(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := loggedIn(t, h, "modmaria", "pixelpaladin")
	cookie := cookieHeader(h, b)
	u := mustURL(h.URL)
	for _, origin := range []string{
		"null", "http://" + u.Hostname() + ":1", "http://" + u.Host + ".evil.example",
		"http://evil.example/" + u.Host, "http://" + u.Host + "@evil.example", "http://localhost:" + u.Port(),
	} {
		if status, _ := dialWS(t, h, origin, cookie); status != http.StatusForbidden {
			t.Errorf("Origin %q with a valid cookie: handshake %d, want 403", origin, status)
		}
	}
	noStreamer := loggedIn(t, h, "quietquinn", "")
	if _, code := dialWS(t, h, h.URL, cookieHeader(h, noStreamer)); code != 4401 {
		t.Errorf("logged in, no streamer: close %d, want 4401", code)
	}
	old := loggedIn(t, h, "lurker_lou", "cozycrafter")
	oldCookie := cookieHeader(h, old)
	if status, err := old.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("logout: %d %v", status, err)
	}
	if _, code := dialWS(t, h, h.URL, oldCookie); code != 4401 {
		t.Errorf("cookie of a logged-out session: close %d, want 4401", code)
	}
	// The genuine page still connects.
	if status, code := dialWS(t, h, h.URL, cookie); status != http.StatusSwitchingProtocols || code != 0 {
		t.Errorf("genuine socket: %d / close %d", status, code)
	}
}

// TestCSRF: unsafe requests without the session's form token, with another session's token,
// or from another site are refused with 403 and change nothing.
func TestCSRF(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := loggedIn(t, h, "modmaria", "pixelpaladin")
	token, err := b.CSRF("/enter_streamer")
	if err != nil {
		t.Fatal(err)
	}
	otherToken, err := loggedIn(t, h, "quietquinn", "").CSRF("/enter_streamer")
	if err != nil {
		t.Fatal(err)
	}
	attempts := []struct {
		name, token string
		hdr         map[string]string
	}{
		{"no token", "", nil},
		{"wrong token", strings.Repeat("0", len(token)), nil},
		{"another session's token", otherToken, nil},
		{"token with a suffix", token + "00", nil},
		{"cross-site Origin", token, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}},
		{"Origin null", token, map[string]string{"Origin": "null", "Sec-Fetch-Site": ""}},
		{"Sec-Fetch-Site cross-site", token, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": ""}},
		{"Sec-Fetch-Site same-site", token, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": ""}},
	}
	for _, path := range []string{"/enter_streamer", "/logout"} {
		for _, a := range attempts {
			form := url.Values{"streamer": {"cozycrafter"}}
			if a.token != "" {
				form.Set("csrf_token", a.token)
			}
			req, _ := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", h.URL)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("Cookie", cookieHeader(h, b))
			for k, v := range a.hdr {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			if got := do(t, req); got.Status != http.StatusForbidden {
				t.Errorf("POST %s, %s: %d, want 403", path, a.name, got.Status)
			}
		}
	}
	// Nothing changed: still logged in, still watching pixelpaladin, subscriptions untouched.
	status, body, err := b.Get("/stream")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "PixelPaladin") {
		t.Fatalf("after the refused requests /stream = %d %v, want PixelPaladin's page", status, err)
	}
	if status, err := b.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("the genuine logout: %d %v", status, err)
	}
	if _, body, _ := b.Get("/enter_streamer"); strings.Contains(body, "csrf_token") {
		t.Fatal("still logged in after the genuine logout")
	}
}

// TestOAuthState: a callback without the state, with a state already used, or with the state
// of another browser (login CSRF: an attacker's code planted in a victim's browser) is refused
// and logs nobody in.
func TestOAuthState(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	loggedInAs := func(b *apptest.Browser) bool {
		_, body, _ := b.Get("/enter_streamer")
		return strings.Contains(body, "Choose a streamer")
	}
	expectRefused := func(name string, b *apptest.Browser, target string) {
		t.Helper()
		status, body, err := b.Get(target)
		if err != nil || status != http.StatusBadRequest || !strings.Contains(body, "That login link has expired") {
			t.Errorf("%s: %d %v %.200q, want 400 and the expired-link page", name, status, err, body)
		}
	}

	victim := h.NewBrowser()
	au, err := victim.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	back, err := victim.Consent(au, "modmaria", "authorize")
	if err != nil {
		t.Fatal(err)
	}
	noState := *back
	q := noState.Query()
	q.Del("state")
	noState.RawQuery = q.Encode()
	expectRefused("missing state", victim, noState.String())
	// The state was spent by the refused attempt: even the genuine URL fails now.
	expectRefused("state spent by a refused attempt", victim, back.String())
	if loggedInAs(victim) {
		t.Fatal("victim logged in without a valid state")
	}

	attacker := h.NewBrowser()
	aau, _ := attacker.Authorize()
	planted, err := attacker.Consent(aau, "h4x0r", "authorize")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused("another browser's state, victim with no login pending", victim, planted.String())
	if _, err := victim.Authorize(); err != nil { // the victim has a login of its own pending
		t.Fatal(err)
	}
	expectRefused("another browser's state, victim with a login pending", victim, planted.String())
	if loggedInAs(victim) {
		t.Fatal("victim logged in with the attacker's code")
	}

	ok := h.NewBrowser()
	oau, _ := ok.Authorize()
	genuine, _ := ok.Consent(oau, "quietquinn", "authorize")
	if status, _, err := ok.Get(genuine.String()); err != nil || status != http.StatusOK {
		t.Fatalf("genuine login: %d %v", status, err)
	}
	expectRefused("state reused after a successful login", ok, genuine.String())
	if !loggedInAs(ok) {
		t.Error("a replayed callback logged the genuine user out")
	}
	denied := *genuine
	denied.RawQuery = url.Values{"error": {"access_denied"}, "state": {genuine.Query().Get("state")}}.Encode()
	expectRefused("access_denied with a used state", ok, denied.String())
}
