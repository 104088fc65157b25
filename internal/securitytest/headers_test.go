package securitytest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// checkHeaders fails unless a carries the security headers every answer must have.
func checkHeaders(t testing.TB, what string, a answer) {
	t.Helper()
	csp := a.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s (%d): CSP %q lacks %s", what, a.Status, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s (%d): CSP %q allows %s", what, a.Status, csp, bad)
		}
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if got := a.Header.Get(k); got != want {
			t.Errorf("%s (%d): %s = %q, want %q", what, a.Status, k, got, want)
		}
	}
}

// TestSecurityHeadersOnEveryAnswer: every page, redirect, error page, 404, 405, refusal,
// probe and asset carries the strict CSP, nosniff, DENY and Referrer-Policy; Twitch's callback
// answers are plain text with nosniff.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := loggedIn(t, h, "modmaria", "pixelpaladin")
	token, _ := b.CSRF("/enter_streamer")
	cookie := cookieHeader(h, b)
	_, stream, _ := b.Get("/stream")
	asset := "/static/app.css"
	if m := linkRe.FindAllStringSubmatch(stream, -1); len(m) > 0 {
		for _, l := range m {
			if strings.HasPrefix(l[1], "/static/") {
				asset = l[1]
			}
		}
	}
	form := func(v url.Values) string { return v.Encode() }
	reqs := []struct {
		method, path, body string
		hdr                map[string]string
		withCookie         bool
		status             int
	}{
		{"GET", "/", "", nil, false, 200},
		{"GET", "/", "", nil, true, 200},
		{"GET", "/login", "", nil, false, 302},
		{"GET", "/auth?code=x&state=y", "", nil, false, 400},
		{"GET", "/auth?error=access_denied", "", nil, false, 400},
		{"GET", "/enter_streamer", "", nil, false, 303},
		{"GET", "/enter_streamer", "", nil, true, 200},
		{"POST", "/enter_streamer", form(url.Values{"csrf_token": {token}, "streamer": {"x"}}), nil, true, 422},
		{"POST", "/enter_streamer", form(url.Values{"csrf_token": {token}, "streamer": {"nobody_here_at_all"}}), nil, true, 422},
		{"POST", "/enter_streamer", form(url.Values{"streamer": {"cozycrafter"}}), nil, true, 403},
		{"POST", "/enter_streamer", form(url.Values{"csrf_token": {token}}), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true, 403},
		{"GET", "/stream", "", nil, true, 200},
		{"GET", "/stream", "", nil, false, 303},
		{"POST", "/logout", "", nil, true, 403},
		{"GET", "/logout", "", nil, true, 405},
		{"GET", "/ws", "", nil, true, 426},
		{"GET", "/ws", "", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "https://evil.example"}, true, 403},
		{"GET", "/healthz", "", nil, false, 200},
		{"GET", "/readyz", "", nil, false, 200},
		{"GET", "/metrics", "", nil, false, 200},
		{"GET", asset, "", nil, false, 200},
		{"GET", "/static/nope.js", "", nil, false, 404},
		{"GET", "/no/such/page", "", nil, false, 404},
		{"GET", "/no/such/page", "", nil, true, 404},
		{"DELETE", "/", "", nil, false, 405},
	}
	for _, r := range reqs {
		req, _ := http.NewRequest(r.method, h.URL+r.path, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Origin", h.URL)
		if r.withCookie {
			req.Header.Set("Cookie", cookie)
		}
		for k, v := range r.hdr {
			req.Header.Set(k, v)
		}
		what := r.method + " " + r.path
		a := do(t, req)
		if a.Status != r.status {
			t.Errorf("%s: status %d, want %d", what, a.Status, r.status)
		}
		checkHeaders(t, what, a)
	}
	// Webhook answers are for Twitch, not pages: plain text that a browser must not sniff.
	sid := "0123456789abcdef0123456789abcdef"
	for what, a := range map[string]answer{
		"GET callback":            do(t, must(http.NewRequest(http.MethodGet, callbackURL(h, sid), nil))),
		"callback, headers only":  do(t, must(http.NewRequest(http.MethodPost, callbackURL(h, sid), strings.NewReader("{}")))),
		"callback, bad signature": do(t, signedRequest(callbackURL(h, sid), "x", msg{ID: "h1", Body: []byte("{}")})),
		"callback, 1 MiB":         do(t, signedRequest(callbackURL(h, sid), "x", msg{ID: "h2", Body: []byte(strings.Repeat("x", 1<<20))})),
	} {
		if a.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s (%d): Content-Type %q, nosniff %q", what, a.Status, a.Header.Get("Content-Type"), a.Header.Get("X-Content-Type-Options"))
		}
	}
}
