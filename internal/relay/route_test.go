package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// notification is a notification body for a subscription id with any type, version and
// condition (the event is a stream.online of the condition's broadcaster).
func notification(subID, typ, version, cond string) string {
	return `{"subscription":{"id":"` + subID + `","status":"enabled","type":"` + typ + `","version":"` + version +
		`","condition":` + cond + `,"transport":{"method":"webhook","callback":"x"},"created_at":"2026-01-01T00:00:00Z"},` +
		`"event":{"broadcaster_user_id":"1","broadcaster_user_login":"someone","broadcaster_user_name":"Someone","type":"live","started_at":"2026-01-01T00:00:00Z"}}`
}

// A notification is delivered only when its type, version and condition are those of the
// subscription its id names; anything else is answered 2xx and shown to nobody, and the
// subscription stays.
func TestNotificationMustMatchItsSubscription(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	online := subOfType(t, e, s.ID, eventsub.TypeStreamOnline)
	ours := `{"broadcaster_user_id":"` + s.Streamer.ID + `"}`
	for i, c := range []struct{ name, body, headerType string }{
		{"another type under its id", notification(online.ID, "channel.ban", "1", ours), ""},
		{"another broadcaster", notification(online.ID, eventsub.TypeStreamOnline, "1", `{"broadcaster_user_id":"999999"}`), ""},
		{"another version", notification(online.ID, eventsub.TypeStreamOnline, "2", ours), ""},
		{"an extra condition field", notification(online.ID, eventsub.TypeStreamOnline, "1", `{"broadcaster_user_id":"`+s.Streamer.ID+`","moderator_user_id":"1"}`), ""},
		{"headers that disagree with the body", notification(online.ID, eventsub.TypeStreamOnline, "1", ours), "channel.ban"},
	} {
		req := e.signed(s.ID, "notification", "m-mismatch-"+string(rune('a'+i)), c.body)
		if c.headerType != "" {
			req.Header.Set(eventsub.HeaderSubscriptionType, c.headerType)
			req.Header.Set(eventsub.HeaderSubscriptionVersion, "1")
		}
		if a := e.do(req); a.status != http.StatusNoContent {
			t.Errorf("%s: %d, want 204", c.name, a.status)
		}
	}
	if got := e.sink.Events(s.ID); len(got) != 0 {
		t.Fatalf("mismatched notifications reached the viewer: %+v", got)
	}
	// The real subscription is untouched and still delivers.
	if a := e.post(s.ID, "notification", "m-good", time.Now(), notification(online.ID, eventsub.TypeStreamOnline, "1", ours), ""); a.status != http.StatusNoContent {
		t.Fatalf("matching notification: %d", a.status)
	}
	if got := e.sink.Events(s.ID); len(got) != 1 || got[0].ID != "m-good" {
		t.Fatalf("events = %+v, want the matching one", got)
	}
	if _, err := e.sim.WaitVerified(t.Context(), online.ID); err != nil {
		t.Fatalf("the subscription did not survive: %v", err)
	}
}

// signed is a callback request signed with the session's secret, as Twitch sends it.
func (e *env) signed(sid, msgType, id, body string) *http.Request {
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	req, _ := http.NewRequest(http.MethodPost, e.m.CallbackURL(sid), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(eventsub.HeaderMessageID, id)
	req.Header.Set(eventsub.HeaderMessageType, msgType)
	req.Header.Set(eventsub.HeaderMessageTimestamp, stamp)
	req.Header.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(webhook.Secret(testSecret, sid)), id, stamp, []byte(body)))
	return req
}

// A challenge is answered only for the subscription it names with the same type, version
// and condition.
func TestChallengeMustMatchItsSubscription(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	var taken atomic.Bool
	refused := make(chan string, 4)
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !firstChallenge(r, eventsub.TypeStreamOnline, &taken) {
			return false
		}
		// Before the real challenge: forged variants of it, validly signed.
		id := r.Header.Get(eventsub.HeaderMessageID)
		sub := subIDOf(t, r)
		ours := `{"broadcaster_user_id":"` + s.Streamer.ID + `"}`
		for i, body := range []string{
			challenge(sub, "channel.ban", "1", ours),
			challenge(sub, eventsub.TypeStreamOnline, "1", `{"broadcaster_user_id":"999999"}`),
			challenge(sub, eventsub.TypeStreamOnline, "9", ours),
		} {
			rec := httptest.NewRecorder()
			e.receive(rec, e.signed(s.ID, eventsub.MessageTypeVerification, id+"-forged-"+string(rune('a'+i)), body), s.ID)
			if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "kappa") {
				refused <- body
			}
		}
		return false // the real one goes through
	})
	e.ensure(s)
	close(refused)
	for body := range refused {
		t.Errorf("a mismatched challenge was answered: %s", body)
	}
	if !taken.Load() {
		t.Fatal("the stream.online challenge never came through the front")
	}
}

// subIDOf reads the subscription id out of a challenge request, leaving its body readable.
func subIDOf(t *testing.T, r *http.Request) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	var m struct{ Subscription struct{ ID string } }
	if err := json.Unmarshal(b, &m); err != nil || m.Subscription.ID == "" {
		t.Fatalf("no subscription id in %s", b)
	}
	return m.Subscription.ID
}

func challenge(subID, typ, version, cond string) string {
	return `{"challenge":"pogchamp-kappa","subscription":{"id":"` + subID + `","status":"webhook_callback_verification_pending","type":"` + typ +
		`","version":"` + version + `","condition":` + cond + `,"transport":{"method":"webhook","callback":"x"},"created_at":"2026-01-01T00:00:00Z"}}`
}

// A revoked feed shows nothing until it is active again: neither a late notification under
// the revoked id, nor one under an id we never held for the same type and condition.
func TestRevokedFeedShowsNothing(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	online := subOfType(t, e, s.ID, eventsub.TypeStreamOnline)
	if d, err := e.sim.RevokeSubscription(t.Context(), online.ID, eventsub.StatusAuthorizationRevoked); err != nil || d.Status != http.StatusNoContent {
		t.Fatalf("revoke: %+v %v", d, err)
	}
	e.sink.waitStatus(t, s.ID, FeedStreamChanged, StatusRevoked)
	ours := `{"broadcaster_user_id":"` + s.Streamer.ID + `"}`
	for id, subID := range map[string]string{"m-late": online.ID, "m-unknown-id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4"} {
		if a := e.post(s.ID, "notification", id, time.Now(), notification(subID, eventsub.TypeStreamOnline, "1", ours), ""); a.status != http.StatusNoContent {
			t.Errorf("%s: %d, want 204", id, a.status)
		}
	}
	if got := e.sink.Events(s.ID); len(got) != 0 {
		t.Fatalf("a revoked feed showed events: %+v", got)
	}
}

// Twitch sends a challenge again, with the same message id, when our answer was lost: it is
// answered again, and the subscription verifies.
func TestChallengeAnsweredAgainWhenTwitchRetries(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	var taken atomic.Bool
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !firstChallenge(r, eventsub.TypeUserUpdate, &taken) {
			return false
		}
		rec := httptest.NewRecorder()
		e.receive(rec, r, s.ID) // we answer it ...
		if rec.Code != http.StatusOK {
			t.Errorf("first challenge answered %d", rec.Code)
		}
		conn, _, err := http.NewResponseController(w).Hijack() // ... and the answer is lost
		if err != nil {
			t.Errorf("hijack: %v", err)
			return true
		}
		conn.Close()
		return true
	})
	e.ensure(s)
	sub := subOfType(t, e, s.ID, eventsub.TypeUserUpdate)
	got, err := e.sim.WaitVerified(t.Context(), sub.ID)
	if err != nil || got.Status != eventsub.StatusEnabled {
		t.Fatalf("after a lost answer the subscription is %q (%v), want enabled", got.Status, err)
	}
	if !taken.Load() {
		t.Fatal("the challenge never came through the front")
	}
}

// stallCreates makes the next subscription create wait d at Twitch, and returns a channel
// closed when it has arrived there.
func (e *env) stallCreates(d time.Duration) <-chan struct{} {
	arrived := make(chan struct{})
	var once atomic.Bool
	f := func(r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/helix/eventsub/subscriptions" && once.CompareAndSwap(false, true) {
			close(arrived)
		}
	}
	e.helixIn.Store(&f)
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: http.MethodPost, Delay: d})
	return arrived
}

// Logging out (or changing streamer) while a subscribe is stalled at Twitch finishes within
// its own deadline, and the subscription the stalled create makes is deleted when it
// returns: nothing is left at Twitch.
func TestUnsubscribeDoesNotWaitForAStalledSubscribe(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	arrived := e.stallCreates(3 * time.Second)
	subscribed := make(chan error, 1)
	go func() { subscribed <- e.m.SubscribeToAllEvents(context.Background(), s) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := e.m.UnsubscribeFromAllEvents(ctx, s.ID, "logout"); err != nil {
		t.Fatalf("UnsubscribeFromAllEvents: %v", err)
	}
	select {
	case <-subscribed:
		t.Fatal("UnsubscribeFromAllEvents waited for the stalled subscribe")
	default:
	}
	if err := <-subscribed; err != nil {
		t.Fatalf("SubscribeToAllEvents: %v", err)
	}
	waitNoSubscriptions(t, e)
}

// A subscribe in flight when Shutdown begins finishes first; then Shutdown (in-memory
// state: delete everything) leaves nothing at Twitch, and nothing new starts.
func TestShutdownLeavesNothingBehind(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	arrived := e.stallCreates(time.Second)
	subscribed := make(chan error, 1)
	go func() { subscribed <- e.m.SubscribeToAllEvents(context.Background(), s) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.m.Shutdown(ctx, false); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("the subscribe in flight: %v", err)
		}
	default:
		t.Fatal("Shutdown returned before the subscribe in flight")
	}
	if n := len(e.sim.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions left at Twitch after Shutdown", n)
	}
	if err := e.m.SubscribeToAllEvents(ctx, e.session("speedy_sam", "pixelpaladin")); err != ErrShuttingDown {
		t.Fatalf("SubscribeToAllEvents after Shutdown = %v, want ErrShuttingDown", err)
	}
	if n := len(e.sim.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions created after Shutdown", n)
	}
}

func waitNoSubscriptions(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, sub := range e.sim.Subscriptions() {
		if _, err := e.sim.WaitSubscription(ctx, sub.ID, func(eventsub.Subscription) bool { return false }); ctx.Err() != nil {
			t.Fatalf("subscription %s (%s) left at Twitch: %v", sub.ID, sub.Type, err)
		}
	}
}
