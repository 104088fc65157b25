package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

type answerT struct {
	status int
	body   string
	header http.Header
}

// post sends a callback as Twitch would, signed with secret (the session's if "").
func (e *env) post(sid, msgType, id string, ts time.Time, body, secret string) answerT {
	e.t.Helper()
	if secret == "" {
		secret = webhook.Secret(testSecret, sid)
	}
	stamp := ts.UTC().Format(time.RFC3339Nano)
	req, _ := http.NewRequest(http.MethodPost, e.m.CallbackURL(sid), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(eventsub.HeaderMessageID, id)
	req.Header.Set(eventsub.HeaderMessageType, msgType)
	req.Header.Set(eventsub.HeaderMessageRetry, "0")
	req.Header.Set(eventsub.HeaderMessageTimestamp, stamp)
	req.Header.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(secret), id, stamp, []byte(body)))
	return e.do(req)
}

func (e *env) do(req *http.Request) answerT {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST callback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return answerT{resp.StatusCode, string(b), resp.Header}
}

func notificationBody(subID, typ string, cond string) string {
	return `{"subscription":{"id":"` + subID + `","status":"enabled","type":"` + typ + `","version":"1","condition":` + cond +
		`,"transport":{"method":"webhook","callback":"x"},"created_at":"2026-01-01T00:00:00Z"},` +
		`"event":{"broadcaster_user_id":"100001","broadcaster_user_login":"pixelpaladin","broadcaster_user_name":"PixelPaladin"}}`
}

func subOfType(t *testing.T, e *env, sid, typ string) eventsub.Subscription {
	t.Helper()
	for _, s := range e.simSubs(sid) {
		if s.Type == typ {
			return s
		}
	}
	t.Fatalf("no %s subscription for the session", typ)
	return eventsub.Subscription{}
}

// Forged requests: every one is 403 with the same body, whether or not the session exists,
// and nothing reaches the browser.
func TestCallbackForgeries(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	sub := subOfType(t, e, s.ID, eventsub.TypeStreamOffline)
	body := notificationBody(sub.ID, sub.Type, `{"broadcaster_user_id":"100001"}`)
	now := time.Now()
	other := e.session("modmaria", "pixelpaladin").ID

	forged := e.post(s.ID, "notification", "m-forged", now, body, "a secret the attacker guessed")
	otherSecret := e.post(s.ID, "notification", "m-other", now, body, webhook.Secret(testSecret, other))
	unknownForged := e.post("00000000000000000000000000000000", "notification", "m-unknown", now, body, "a secret the attacker guessed")
	stale := e.post(s.ID, "notification", "m-stale", now.Add(-11*time.Minute), body, "")
	future := e.post(s.ID, "notification", "m-future", now.Add(11*time.Minute), body, "")
	for name, a := range map[string]answerT{"forged": forged, "another session's secret": otherSecret,
		"unknown session, forged": unknownForged, "stale": stale, "future": future} {
		if a.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, a.status)
		}
	}
	if forged.body != unknownForged.body || forged.header.Get("Content-Type") != unknownForged.header.Get("Content-Type") ||
		len(forged.header) != len(unknownForged.header) {
		t.Errorf("unknown session answers differently from a bad signature: %+v vs %+v", unknownForged, forged)
	}
	if n := len(e.sink.Events(s.ID)); n != 0 {
		t.Fatalf("%d forged events reached the Sink", n)
	}
	// The real message with a forged copy's id still goes through (forgeries mark nothing).
	if a := e.post(s.ID, "notification", "m-forged", now, body, ""); a.status != http.StatusNoContent {
		t.Fatalf("genuine message after a forged copy: %d, want 204", a.status)
	}
}

// The simulator sends with an old and a future timestamp: refused, never delivered.
func TestCallbackSkewedTimestampsFromTwitch(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	for _, skew := range []time.Duration{-15 * time.Minute, 15 * time.Minute} {
		e.sim.SetMisbehavior(twitchsim.Misbehavior{TimestampSkew: skew})
		ds, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "skewed")
		if err != nil || len(ds) == 0 {
			t.Fatalf("UpdateUser: %v %v", ds, err)
		}
		if ds[0].Status != http.StatusForbidden {
			t.Errorf("skew %v: answered %d, want 403", skew, ds[0].Status)
		}
	}
	if n := len(e.sink.Events(s.ID)); n != 0 {
		t.Fatalf("%d skewed events reached the Sink", n)
	}
}

// Twitch delivers the same message twice: both 2xx, one event.
func TestCallbackDuplicateDelivery(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	e.sim.SetMisbehavior(twitchsim.Misbehavior{DuplicateDelivery: true})
	ds, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "twice")
	if err != nil || len(ds) != 2 || ds[0].MessageID != ds[1].MessageID {
		t.Fatalf("UpdateUser: want two deliveries of one message, got %+v %v", ds, err)
	}
	for _, d := range ds {
		if d.Status != http.StatusNoContent {
			t.Errorf("delivery answered %d, want 204", d.Status)
		}
	}
	if n := len(e.sink.Events(s.ID)); n != 1 {
		t.Fatalf("Sink got %d events, want exactly 1", n)
	}
}

// Our handling fails (the Sink panics): 500, the id is unmarked, Twitch's retry with the
// same id is accepted, and the event arrives exactly once.
func TestCallbackRetryAfterOur500(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	e.sink.panics.Store(1)
	ds, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "retry me")
	if err != nil || len(ds) != 1 {
		t.Fatalf("UpdateUser: %+v %v", ds, err)
	}
	if ds[0].Attempts != 2 || ds[0].Status != http.StatusNoContent {
		t.Fatalf("delivery: %d attempts, last status %d; want 2 attempts (500, then 204)", ds[0].Attempts, ds[0].Status)
	}
	if got := e.sink.Events(s.ID); len(got) != 1 || got[0].ID != ds[0].MessageID {
		t.Fatalf("Sink got %+v, want the one event %s", got, ds[0].MessageID)
	}
}

func TestCallbackMalformedInput(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	now := time.Now()
	if a := e.post(s.ID, "notification", "m-json", now, `{"subscription":{"id":`, ""); a.status != http.StatusNoContent {
		t.Errorf("malformed JSON with a valid signature: %d, want 204 (no retry storm)", a.status)
	}
	if a := e.post(s.ID, "notification", "m-json", now, `{"subscription":{"id":`, ""); a.status != http.StatusNoContent {
		t.Errorf("the same malformed message again: %d, want 204", a.status)
	}
	if a := e.post(s.ID, "something_new", "m-type", now, `{}`, ""); a.status != http.StatusNoContent {
		t.Errorf("unknown message type: %d, want 204", a.status)
	}
	big := `{"x":"` + strings.Repeat("a", webhook.DefaultMaxBody) + `"}`
	if a := e.post(s.ID, "notification", "m-big", now, big, ""); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", a.status)
	}
	req, _ := http.NewRequest(http.MethodPost, e.m.CallbackURL(s.ID), strings.NewReader(`{}`))
	if a := e.do(req); a.status != http.StatusBadRequest {
		t.Errorf("no Twitch headers: %d, want 400", a.status)
	}
	req, _ = http.NewRequest(http.MethodGet, e.m.CallbackURL(s.ID)+"?hub.challenge=x", nil)
	if a := e.do(req); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" {
		t.Errorf("GET (legacy WebSub): %d Allow %q, want 405 Allow POST", a.status, a.header.Get("Allow"))
	}
	if n := len(e.sink.Events(s.ID)); n != 0 {
		t.Fatalf("%d malformed messages reached the Sink", n)
	}
}

// A challenge for a subscription this session is not waiting for: 403.
func TestCallbackUnexpectedChallenge(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	sub := subOfType(t, e, s.ID, eventsub.TypeStreamOnline) // already enabled: not pending
	for name, id := range map[string]string{"unknown subscription": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "enabled subscription": sub.ID} {
		body := `{"challenge":"pogchamp","subscription":{"id":"` + id + `","status":"webhook_callback_verification_pending","type":"stream.online","version":"1"}}`
		a := e.post(s.ID, eventsub.MessageTypeVerification, "m-chal-"+name, time.Now(), body, "")
		if a.status != http.StatusForbidden || strings.Contains(a.body, "pogchamp") {
			t.Errorf("%s: %d %q, want 403 without the challenge", name, a.status, a.body)
		}
	}
	a := e.post("00000000000000000000000000000001", eventsub.MessageTypeVerification, "m-chal-unknown-session", time.Now(),
		`{"challenge":"pogchamp","subscription":{"id":"x","type":"stream.online"}}`, "")
	if a.status != http.StatusForbidden {
		t.Errorf("challenge for an unknown session: %d, want 403", a.status)
	}
}

// Revocation: the feed shows revoked with Twitch's reason in words, the subscription is
// forgotten, 204.
func TestCallbackRevocation(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	sub := subOfType(t, e, s.ID, eventsub.TypeChannelFollow)
	d, err := e.sim.RevokeSubscription(context.Background(), sub.ID, eventsub.StatusModeratorRemoved)
	if err != nil || d.Status != http.StatusNoContent {
		t.Fatalf("revocation answered %d (%v), want 204", d.Status, err)
	}
	f := e.sink.waitStatus(t, s.ID, FeedFollowedBy, StatusRevoked)
	if f.Reason != "you are no longer a moderator of this channel" {
		t.Errorf("reason = %q", f.Reason)
	}
	if f := statusOf(e.m.Statuses(s.ID), FeedStreamChanged); f.Status != StatusActive {
		t.Errorf("stream_changed = %s after another feed's revocation, want active", f.Status)
	}
	rec, _, _ := e.store.Load(context.Background(), s.ID)
	if _, ok := rec.Subs[sub.ID]; ok {
		t.Error("the revoked subscription is still owned in the store")
	}
}

// A validly signed notification for a session that no longer exists (an in-memory instance
// restarted): 204, and the subscription is deleted in Twitch.
func TestCallbackUnknownSessionDeletesSubscription(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	sub := subOfType(t, e, s.ID, eventsub.TypeUserUpdate)
	// The process restarts without its state: a fresh Manager and store.
	e.store = NewMemoryStore()
	e.m = e.newManager(nil)
	ds, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "anyone there?")
	if err != nil || len(ds) != 1 || ds[0].Status != http.StatusNoContent {
		t.Fatalf("delivery to an unknown session: %+v %v, want 204", ds, err)
	}
	e.waitGone(sub.ID)
	if n := len(e.sink.Events(s.ID)); n != 0 {
		t.Fatalf("Sink got %d events for an unknown session", n)
	}
}

// failingStore fails every call, like Redis down.
type failingStore struct{ Store }

var errDown = errors.New("connection refused")

func (failingStore) Load(context.Context, string) (Record, bool, error) {
	return Record{}, false, errDown
}
func (failingStore) DeleteSub(context.Context, string, string) error { return errDown }

// The store is down while a notification for a session this instance does not hold arrives:
// 503, the id is unmarked, and the retry after recovery is accepted.
func TestCallbackStoreDownIs503(t *testing.T) {
	e := newEnv(t, nil)
	e.m = e.newManager(func(c *Config) { c.Store = failingStore{NewMemoryStore()} })
	body := notificationBody("sub-x", "stream.offline", `{"broadcaster_user_id":"100001"}`)
	sid := "0123456789abcdef0123456789abcdef"
	if a := e.post(sid, "notification", "m-503", time.Now(), body, ""); a.status != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d, want 503", a.status)
	}
	e.m.cfg.Store = e.store // recovered; the session is unknown now, so the retry is 204
	if a := e.post(sid, "notification", "m-503", time.Now(), body, ""); a.status != http.StatusNoContent {
		t.Fatalf("retry after recovery: %d, want 204 (not a duplicate)", a.status)
	}
}
