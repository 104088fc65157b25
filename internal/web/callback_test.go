package web_test

// HTTP-level tests of POST /callback/{session_id} through the real service: what Twitch gets
// as an answer, and what the viewer's socket shows. internal/securitytest covers the
// forgeries' answers (TestWebhookForgeries), the unknown-session oracle
// (TestWebhookNoSessionOracle), replays (TestWebhookReplay), Twitch's duplicate deliveries
// (TestDuplicateDeliveryShownOnce), a revocation's reason (TestRevocationShownWithReason) and
// Redis down → 503 → Twitch's retry delivered once (TestRedisDownAndBack); these tests cover
// the rest.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// shownBefore sends a genuine channel.update titled marker through the simulator and returns
// the frames the socket got before it: what the viewer was shown of everything sent earlier.
func shownBefore(t *testing.T, h *apptest.Harness, s *apptest.Socket, streamer, marker string) []apptest.Frame {
	t.Helper()
	if _, err := h.Sim.UpdateChannel(t.Context(), streamer, marker, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var before []apptest.Frame
	for {
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for the marker %q: %v", marker, err)
		}
		if f.Type == "event_updated" && f.Event != nil && f.Event.Title == marker {
			return before
		}
		before = append(before, f)
	}
}

// events returns the event frames among frames, as sent.
func events(frames []apptest.Frame) []string {
	var out []string
	for _, f := range frames {
		if f.Type == "event_updated" {
			out = append(out, string(f.Raw))
		}
	}
	return out
}

// webhookLines returns the "webhook" log lines of the relay, oldest first.
func webhookLines(t *testing.T, h *apptest.Harness) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(h.Logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "webhook" {
			out = append(out, rec)
		}
	}
	return out
}

// outcomesOf returns the outcomes logged for message id, in order.
func outcomesOf(t *testing.T, h *apptest.Harness, id string) []string {
	t.Helper()
	var out []string
	for _, rec := range webhookLines(t, h) {
		if rec["message_id"] == id {
			out = append(out, fmt.Sprint(rec["outcome"]))
		}
	}
	return out
}

// A forgery must not mark its message id as seen: otherwise whoever saw an id could send a
// forged copy first and have Twitch's genuine message dropped as a duplicate. Each forgery
// below reuses the genuine message's id; the genuine one is then accepted and shown once.
func TestCallbackForgeriesMarkNoMessageID(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	_, _, other := h.WatchSession(t, "quietquinn", "cozycrafter")
	sub := h.Subscription(t, sid, eventsub.TypeChannelUpdate)
	url, secret := h.CallbackURL(sid), apptest.WebhookSecret(sid)
	const id = "m-genuine"
	genuine := apptest.Callback{ID: id, Body: apptest.ChannelUpdateBody(sub, "genuine")}
	forged := apptest.Callback{ID: id, Body: apptest.ChannelUpdateBody(sub, "forged")}
	at := func(c apptest.Callback, d time.Duration) apptest.Callback { c.At = time.Now().Add(d); return c }
	altered := apptest.SignedCallback(url, secret, forged)
	altered.Header = apptest.SignedCallback(url, secret, genuine).Header // the genuine headers and signature
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"a guessed secret", apptest.SignedCallback(url, "an attacker's guess at the secret", forged), http.StatusForbidden},
		{"another session's secret", apptest.SignedCallback(url, apptest.WebhookSecret(other), forged), http.StatusForbidden},
		{"the genuine signature on another body", altered, http.StatusForbidden},
		{"signed, 11 minutes old", apptest.SignedCallback(url, secret, at(forged, -11*time.Minute)), http.StatusForbidden},
		{"signed, 11 minutes ahead", apptest.SignedCallback(url, secret, at(forged, 11*time.Minute)), http.StatusForbidden},
	} {
		if a := apptest.Do(t, c.req); a.Status != c.status {
			t.Errorf("%s: answered %d, want %d", c.name, a.Status, c.status)
		}
	}
	if a := apptest.Do(t, apptest.SignedCallback(url, secret, genuine)); a.Status != http.StatusNoContent {
		t.Fatalf("the genuine message after forged copies of its id: %d, want 204 (a forgery marked the id)", a.Status)
	}
	got := events(shownBefore(t, h, s, "pixelpaladin", "marker"))
	if len(got) != 1 || !strings.Contains(got[0], `"title":"genuine"`) {
		t.Fatalf("the viewer was shown %q, want the genuine event only", got)
	}
}

// Input that is not a message we can use: a valid signature on malformed JSON or an unknown
// message type is acknowledged (Twitch must not retry it forever), a body over the limit is
// 413, a request without Twitch's headers 400, a GET 405; the viewer is shown none of it.
func TestCallbackMalformedInput(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	url, secret := h.CallbackURL(sid), apptest.WebhookSecret(sid)
	signed := func(c apptest.Callback) func() *http.Request {
		return func() *http.Request { return apptest.SignedCallback(url, secret, c) }
	}
	big := []byte(`{"x":"` + strings.Repeat("a", webhook.DefaultMaxBody-7) + `"}`) // DefaultMaxBody + 1 bytes
	if len(big) != webhook.DefaultMaxBody+1 {
		t.Fatalf("the oversized body is %d bytes, want %d", len(big), webhook.DefaultMaxBody+1)
	}
	chunked := func() *http.Request {
		r := apptest.SignedCallback(url, secret, apptest.Callback{ID: "m-big-chunked", Body: big})
		r.ContentLength = -1 // no Content-Length: the limit is found while reading
		return r
	}
	for _, c := range []struct {
		name   string
		req    func() *http.Request
		status int
		allow  string
	}{
		{"malformed JSON, validly signed", signed(apptest.Callback{ID: "m-json", Body: []byte(`{"subscription":{"id":`)}), http.StatusNoContent, ""},
		{"the same malformed message again", signed(apptest.Callback{ID: "m-json", Body: []byte(`{"subscription":{"id":`)}), http.StatusNoContent, ""},
		{"unknown message type", signed(apptest.Callback{Type: "something_new", ID: "m-type", Body: []byte(`{}`)}), http.StatusNoContent, ""},
		{"one byte over the body limit", signed(apptest.Callback{ID: "m-big", Body: big}), http.StatusRequestEntityTooLarge, ""},
		{"over the body limit, chunked", chunked, http.StatusRequestEntityTooLarge, ""},
		{"no Twitch headers", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
			return r
		}, http.StatusBadRequest, ""},
		{"GET (legacy WebSub)", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url+"?hub.challenge=x", nil)
			return r
		}, http.StatusMethodNotAllowed, "POST"},
	} {
		a := apptest.Do(t, c.req())
		if a.Status != c.status || a.Header.Get("Allow") != c.allow {
			t.Errorf("%s: answered %d (Allow %q), want %d (Allow %q)", c.name, a.Status, a.Header.Get("Allow"), c.status, c.allow)
		}
	}
	if got := events(shownBefore(t, h, s, "pixelpaladin", "marker")); len(got) != 0 {
		t.Fatalf("the viewer was shown %q", got)
	}
}

// A challenge the relay is not waiting for is refused with 403 and the challenge is not
// echoed: a subscription it never created, one already enabled, one on another session's
// callback, or a session it does not know. The viewer's feeds are unchanged.
func TestCallbackUnexpectedChallenge(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	stranger := "0123456789abcdef0123456789abcdef" // no such session
	enabled := h.Subscription(t, sid, eventsub.TypeStreamOnline)
	unknown := enabled
	unknown.ID = "f1c2a387-161a-49f9-a165-0f21d7a4e1c4"
	for i, c := range []struct {
		name string
		sid  string
		sub  eventsub.Subscription
	}{
		{"a subscription it never created", sid, unknown},
		{"a subscription already enabled", sid, enabled},
		{"its subscription on another session's callback", stranger, enabled},
		{"an unknown session", stranger, unknown},
	} {
		sub := c.sub
		sub.Status = eventsub.StatusVerificationPending
		challenge := fmt.Sprint("pogchamp-", i)
		body, _ := json.Marshal(map[string]any{"challenge": challenge, "subscription": sub})
		id := fmt.Sprint("m-challenge-", i)
		a := apptest.Do(t, apptest.SignedCallback(h.CallbackURL(c.sid), apptest.WebhookSecret(c.sid),
			apptest.Callback{Type: eventsub.MessageTypeVerification, ID: id, Body: body}))
		if a.Status != http.StatusForbidden || strings.Contains(a.Body, challenge) {
			t.Errorf("%s: answered %d %q, want 403 without the challenge", c.name, a.Status, a.Body)
		}
		// Refused because nobody waits for it, not because the message was wrong.
		apptest.Wait(t, 5*time.Second, "the log line of "+id, func() bool { return len(outcomesOf(t, h, id)) > 0 })
		if got := outcomesOf(t, h, id); len(got) != 1 || got[0] != "unexpected_challenge" {
			t.Errorf("%s: logged outcomes %q, want [unexpected_challenge]", c.name, got)
		}
	}
	for _, f := range shownBefore(t, h, s, "pixelpaladin", "marker") {
		for _, fd := range f.Feeds {
			if fd.Status != "active" && fd.Status != "unavailable" {
				t.Errorf("the viewer was shown feed %s %s (%q)", fd.Feed, fd.Status, fd.Reason)
			}
		}
	}
	if got, err := h.Sim.WaitVerified(t.Context(), enabled.ID); err != nil || got.Status != eventsub.StatusEnabled {
		t.Errorf("the enabled subscription is now %q (%v)", got.Status, err)
	}
}

// With Redis, the relay's store fails while it routes a revocation (its record has the wrong
// type in Redis; the dedupe store still works, so the id was marked first): 503, the id is
// unmarked, and nothing is shown. Once the store is back, Twitch's retry with the same id is
// handled, once: the feed shows revoked with the reason, and a further resend is a duplicate.
// (Redis unreachable, where the dedupe store fails first, is securitytest's
// TestRedisDownAndBack.)
func TestCallbackRetryAfterStoreFailure(t *testing.T) {
	h := apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t)})
	_, s, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	sub := h.Subscription(t, sid, eventsub.TypeUserUpdate)
	rdb := redistest.Client(t)
	subsKey := redisKey(t, rdb, "*relay:subs:"+sid)
	restore := breakRedisKey(t, rdb, subsKey)

	sub.Status = eventsub.StatusUserRemoved
	body, _ := json.Marshal(map[string]any{"subscription": sub})
	rev := apptest.Callback{Type: eventsub.MessageTypeRevocation, ID: "m-revoked", Body: body}
	send := func(retry int) int {
		rev.Retry, rev.At = retry, time.Now() // Twitch's retry: same id and body, signed again
		return apptest.Do(t, apptest.SignedCallback(h.CallbackURL(sid), apptest.WebhookSecret(sid), rev)).Status
	}
	if got := send(0); got != http.StatusServiceUnavailable {
		t.Fatalf("revocation while the store fails: %d, want 503", got)
	}
	for _, f := range shownBefore(t, h, s, "pixelpaladin", "during the failure") {
		for _, fd := range f.Feeds {
			if fd.Status == "revoked" {
				t.Errorf("the viewer was shown %s revoked before the revocation was handled", fd.Feed)
			}
		}
	}

	restore()
	if got := send(1); got != http.StatusNoContent {
		t.Fatalf("Twitch's retry after the store is back: %d, want 204", got)
	}
	apptest.Wait(t, 5*time.Second, "the retry's log line", func() bool { return len(outcomesOf(t, h, rev.ID)) >= 2 })
	if got := outcomesOf(t, h, rev.ID); got[1] != "revoked" {
		t.Fatalf("the retry was logged %q after %q, want revoked (was the failed attempt's id left marked?)", got[1], got[0])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	feeds, err := s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool { return f["user_changed"].Status == "revoked" })
	if err != nil {
		t.Fatalf("the viewer never saw user_changed revoked: %v", err)
	}
	if r := feeds["user_changed"].Reason; r != "the Twitch account no longer exists" {
		t.Errorf("revoked with reason %q", r)
	}
	if got := send(2); got != http.StatusNoContent {
		t.Errorf("a further resend: %d, want 204", got)
	}
	apptest.Wait(t, 5*time.Second, "three log lines of the revocation", func() bool { return len(outcomesOf(t, h, rev.ID)) >= 3 })
	if got, want := outcomesOf(t, h, rev.ID), []string{"store_error", "revoked", "duplicate"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the revocation's outcomes: %q, want %q (handled once, after the retry)", got, want)
	}

	// A notification on the callback of a session this process does not hold is looked up in
	// the store: failing, 503; back, Twitch's retry is taken for what it is (not a duplicate).
	stranger := "0123456789abcdef0123456789abcdef"
	restore = breakRedisKey(t, rdb, strings.TrimSuffix(subsKey, "relay:subs:"+sid)+"relay:s:"+stranger)
	stray := h.Subscription(t, sid, eventsub.TypeChannelUpdate)
	stray.ID = "5a6b7c8d-0000-4000-8000-000000000000"
	note := apptest.Callback{ID: "m-stranger", Body: apptest.ChannelUpdateBody(stray, "for nobody")}
	for retry, want := range []int{http.StatusServiceUnavailable, http.StatusNoContent} {
		if retry == 1 {
			restore()
		}
		note.Retry, note.At = retry, time.Now()
		if a := apptest.Do(t, apptest.SignedCallback(h.CallbackURL(stranger), apptest.WebhookSecret(stranger), note)); a.Status != want {
			t.Errorf("notification for an unknown session, attempt %d: %d, want %d", retry+1, a.Status, want)
		}
	}
	apptest.Wait(t, 5*time.Second, "two log lines of the notification", func() bool { return len(outcomesOf(t, h, note.ID)) >= 2 })
	if got, want := outcomesOf(t, h, note.ID), []string{"store_error", "unknown_session"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the notification's outcomes: %q, want %q", got, want)
	}
	if got := events(shownBefore(t, h, s, "pixelpaladin", "after")); len(got) != 0 {
		t.Errorf("the viewer was shown %q", got)
	}
}

// redisKey returns the one key that matches pattern.
func redisKey(t *testing.T, rdb redis.UniversalClient, pattern string) string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), pattern).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %s: %q %v, want exactly one", pattern, keys, err)
	}
	return keys[0]
}

// breakRedisKey sets key to a string, so that the relay's hash commands on it fail
// (WRONGTYPE) while Redis itself answers; restore puts back what was there, or nothing.
func breakRedisKey(t *testing.T, rdb redis.UniversalClient, key string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	dump, err := rdb.Dump(ctx, key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	ttl := max(rdb.PTTL(ctx, key).Val(), 0)
	if err := rdb.Set(ctx, key, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return func() {
		err := rdb.Del(ctx, key).Err()
		if dump != "" && err == nil {
			err = rdb.Restore(ctx, key, ttl, dump).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A validly signed notification for a session the relay no longer knows: 204 (Twitch must
// stop), and the subscription is deleted in Twitch. Here the session ended while Twitch
// refused to delete its subscriptions, so Twitch still delivers to them.
func TestCallbackForUnknownSessionDeletesSubscription(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, _, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	subs := h.Subscriptions(sid)
	h.Sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: http.MethodDelete,
		Status: http.StatusBadRequest, Count: len(subs)})
	if status, err := b.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("logout: %d %v", status, err)
	}
	sub := subs[eventsub.TypeUserUpdate]
	if got := h.Subscriptions(sid); len(got) != len(subs) || got[eventsub.TypeUserUpdate].Status != eventsub.StatusEnabled {
		t.Fatalf("after the refused deletes Twitch has %d of the session's %d subscriptions (user.update %q)",
			len(got), len(subs), got[eventsub.TypeUserUpdate].Status)
	}

	ds, err := h.Sim.UpdateUser(t.Context(), "pixelpaladin", "anyone there?")
	if err != nil || len(ds) != 1 || ds[0].SubscriptionID != sub.ID || ds[0].Status != http.StatusNoContent || ds[0].Attempts != 1 {
		t.Fatalf("delivery to the ended session: %+v %v, want one 204 at the first attempt", ds, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if _, err := h.Sim.WaitSubscription(ctx, sub.ID, func(eventsub.Subscription) bool { return false }); !errors.Is(err, twitchsim.ErrUnknownSubscription) {
		t.Fatalf("the subscription was not deleted in Twitch: %v", err)
	}
	apptest.Wait(t, 5*time.Second, "the delivery's log line", func() bool { return len(outcomesOf(t, h, ds[0].MessageID)) > 0 })
	if got := outcomesOf(t, h, ds[0].MessageID); len(got) != 1 || got[0] != "unknown_session" {
		t.Errorf("logged outcomes %q, want [unknown_session]", got)
	}
}
