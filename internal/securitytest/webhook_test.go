package securitytest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// TestWebhookForgeries sends every kind of forged or tampered callback over real HTTP to a live
// session and checks the answer Twitch (or the attacker) gets, and that the browser saw none
// of it: a genuine marker sent last is the socket's next event.
func TestWebhookForgeries(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	_, _, other := watcher(t, h, "quietquinn", "cozycrafter")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	url, secret := callbackURL(h, sid), secretOf(sid)
	body := updateBody(sub, "<script>alert(1)</script> forged")
	n := 0
	id := func() string { n++; return fmt.Sprintf("forge-%d", n) }
	resign := func(req *http.Request, f func(sig string) string) *http.Request {
		req.Header.Set(eventsub.HeaderMessageSignature, f(req.Header.Get(eventsub.HeaderMessageSignature)))
		return req
	}
	cases := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"forged signature", signedRequest(url, "an attacker's guess at the secret", msg{ID: id(), Body: body}), 403},
		{"another session's secret", signedRequest(url, secretOf(other), msg{ID: id(), Body: body}), 403},
		{"server secret used directly", signedRequest(url, apptest.ServerSecret, msg{ID: id(), Body: body}), 403},
		{"stale timestamp (11 min)", signedRequest(url, secret, msg{ID: id(), Body: body, At: time.Now().Add(-11 * time.Minute)}), 403},
		{"future timestamp (11 min)", signedRequest(url, secret, msg{ID: id(), Body: body, At: time.Now().Add(11 * time.Minute)}), 403},
		{"signature header missing", resign(signedRequest(url, secret, msg{ID: id(), Body: body}), func(string) string { return "" }), 400},
		{"signature sha256=zz", resign(signedRequest(url, secret, msg{ID: id(), Body: body}), func(string) string { return "sha256=zz" }), 400},
		{"signature without prefix", resign(signedRequest(url, secret, msg{ID: id(), Body: body}), func(s string) string { return strings.TrimPrefix(s, "sha256=") }), 400},
		{"signature in uppercase hex", resign(signedRequest(url, secret, msg{ID: id(), Body: body}), func(s string) string { return "sha256=" + strings.ToUpper(s[7:]) }), 400},
		{"signature sha1= prefix", resign(signedRequest(url, secret, msg{ID: id(), Body: body}), func(s string) string { return "sha1=" + s[7:] }), 400},
		{"timestamp missing", func() *http.Request {
			r := signedRequest(url, secret, msg{ID: id(), Body: body})
			r.Header.Del(eventsub.HeaderMessageTimestamp)
			return r
		}(), 400},
		{"message id missing", signedRequest(url, secret, msg{ID: "", Body: body}), 400},
		{"timestamp re-written after signing", func() *http.Request {
			r := signedRequest(url, secret, msg{ID: id(), Body: body, At: time.Now().Add(-20 * time.Minute)})
			r.Header.Set(eventsub.HeaderMessageTimestamp, time.Now().UTC().Format(time.RFC3339Nano))
			return r
		}(), 403},
		{"body altered after signing", func() *http.Request {
			r := signedRequest(url, secret, msg{ID: id(), Body: body})
			return withBody(r, strings.Replace(string(body), "forged", "FORGED", 1))
		}(), 403},
		{"body with a byte appended", func() *http.Request {
			r := signedRequest(url, secret, msg{ID: id(), Body: body})
			return withBody(r, string(body)+" ")
		}(), 403},
		{"oversized body (1 MiB)", signedRequest(url, secret, msg{ID: id(), Body: []byte(strings.Repeat("x", 1<<20))}), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := do(t, c.req)
			if a.Status != c.status {
				t.Errorf("answered %d %q, want %d", a.Status, a.Body, c.status)
			}
			t.Logf("observed: %d %q", a.Status, strings.TrimSpace(a.Body))
		})
	}
	// A genuine message goes through, and it is the first event the browser sees.
	if a := do(t, signedRequest(url, secret, msg{ID: "genuine-1", Body: updateBody(sub, "marker")})); a.Status != http.StatusNoContent {
		t.Fatalf("genuine message: %d, want 204", a.Status)
	}
	if f := expectTitle(t, s, "marker"); f.Seq != 1 {
		t.Fatalf("marker has seq %d, want 1: something forged was delivered first", f.Seq)
	}
}

// TestWebhookReplay replays a genuine message: within the window it is acknowledged (so
// Twitch stops) but not delivered again; a captured message replayed after the window has a
// stale timestamp and is refused.
func TestWebhookReplay(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	url, secret := callbackURL(h, sid), secretOf(sid)
	first := msg{ID: "replayed-1", Body: updateBody(sub, "original")}
	if a := do(t, signedRequest(url, secret, first)); a.Status != http.StatusNoContent {
		t.Fatalf("original: %d", a.Status)
	}
	expectTitle(t, s, "original")
	for i := range 3 { // the exact same bytes, and a fresh timestamp (re-signed: Twitch's retry)
		m := first
		if i == 2 {
			m.At = time.Now().Add(time.Minute)
		}
		if a := do(t, signedRequest(url, secret, m)); a.Status != http.StatusNoContent {
			t.Errorf("replay %d within the window: %d, want 204 (duplicate)", i, a.Status)
		}
	}
	// Captured 11 minutes ago and replayed now: the dedupe entry may be gone, the clock is not.
	old := msg{ID: "replayed-2", Body: updateBody(sub, "old"), At: time.Now().Add(-10*time.Minute - 30*time.Second)}
	if a := do(t, signedRequest(url, secret, old)); a.Status != http.StatusForbidden {
		t.Errorf("replay after the window: %d, want 403", a.Status)
	}
	if a := do(t, signedRequest(url, secret, msg{ID: "replayed-3", Body: updateBody(sub, "marker")})); a.Status != http.StatusNoContent {
		t.Fatalf("marker: %d", a.Status)
	}
	if f := expectTitle(t, s, "marker"); f.Seq != 2 {
		t.Fatalf("marker has seq %d, want 2: a replay was delivered", f.Seq)
	}
}

// TestWebhookNoSessionOracle: a callback for an unknown session id answers exactly like one
// for a live session with a bad signature (status, body, every header but Date), whatever the
// shape of the id, so the answers reveal nothing about which ids exist.
func TestWebhookNoSessionOracle(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, _, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	body := updateBody(sub, "probe")
	guess := "a guessed secret"
	want := do(t, signedRequest(callbackURL(h, sid), guess, msg{ID: "probe-known", Body: body}))
	if want.Status != http.StatusForbidden {
		t.Fatalf("known session, bad signature: %d", want.Status)
	}
	ids := []string{
		"0123456789abcdef0123456789abcdef", sid[:31] + "0", strings.ToUpper(sid), "x",
		strings.Repeat("a", 300), "..%2F..%2Fhealthz", "%00", "ffffffffffffffffffffffffffffffff",
	}
	for i, id := range ids {
		got := do(t, signedRequest(h.URL+"/callback/"+id, guess, msg{ID: fmt.Sprint("probe-", i), Body: body}))
		if got.Status != want.Status || got.Body != want.Body || fmt.Sprint(got.Header) != fmt.Sprint(want.Header) {
			t.Errorf("unknown id %.40q answers\n%d %q %v\nknown id with a bad signature answers\n%d %q %v",
				id, got.Status, got.Body, got.Header, want.Status, want.Body, want.Header)
		}
	}
	t.Logf("observed for known and unknown ids alike: %d %q %v", want.Status, want.Body, want.Header)
}

func withBody(r *http.Request, body string) *http.Request {
	c, _ := http.NewRequest(r.Method, r.URL.String(), strings.NewReader(body))
	c.Header = r.Header
	return c
}
