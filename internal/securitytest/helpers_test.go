package securitytest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

const waitFor = 15 * time.Second // every wait's deadline; nothing sleeps

// watcher logs in as login, chooses streamer, connects the stream socket and waits until the
// stream feeds are active and Twitch has verified the session's subscriptions. It returns
// the browser, the socket and the relay session id (apptest.Harness.WatchSession).
func watcher(t testing.TB, h *apptest.Harness, login, streamer string) (*apptest.Browser, *apptest.Socket, string) {
	t.Helper()
	return h.WatchSession(t, login, streamer)
}

// settled waits until the simulator has finished verifying every subscription of the session.
func settled(t testing.TB, h *apptest.Harness, sid string) {
	t.Helper()
	h.WaitSessionVerified(t, sid)
}

// sessionIDs returns the relay session ids found in the simulator's subscription callbacks.
func sessionIDs(h *apptest.Harness) map[string]bool { return h.SessionIDs() }

// subscriptionOf returns the session's subscription of type typ in the simulator.
func subscriptionOf(t testing.TB, h *apptest.Harness, sid, typ string) eventsub.Subscription {
	t.Helper()
	return h.Subscription(t, sid, typ)
}

// nextEvent reads the next event_updated frame (the Socket checks order and duplicates).
func nextEvent(t testing.TB, s *apptest.Socket) apptest.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	f, err := s.NextEvent(ctx)
	if err != nil {
		t.Fatalf("waiting for an event after seq %d: %v", s.LastSeq, err)
	}
	return f
}

// expectTitle checks that the next event on s is the channel.update titled title: with a
// marker sent last, it proves that nothing else (a forgery, a duplicate) arrived before it.
func expectTitle(t testing.TB, s *apptest.Socket, title string) apptest.Frame {
	t.Helper()
	f := nextEvent(t, s)
	if f.Event == nil || f.Event.Title != title {
		t.Fatalf("next event is %s, want the channel.update titled %q", f.Raw, title)
	}
	return f
}

// msg is one webhook message as Twitch would send it.
type msg struct {
	Type string // notification (default), revocation, webhook_callback_verification
	ID   string
	At   time.Time
	Body []byte
}

// updateBody is a channel.update notification body for sub, with title.
func updateBody(sub eventsub.Subscription, title string) []byte {
	return apptest.ChannelUpdateBody(sub, title)
}

// signedRequest builds the POST Twitch would send to callbackURL, signed with secret, with
// channel.update's subscription headers whatever the body.
func signedRequest(callbackURL, secret string, m msg) *http.Request {
	return apptest.SignedCallback(callbackURL, secret, apptest.Callback{Type: m.Type, ID: m.ID, At: m.At, Body: m.Body,
		SubscriptionType: eventsub.TypeChannelUpdate, SubscriptionVersion: "2"})
}

// secretOf is the webhook secret the relay derives for a session.
func secretOf(sid string) string { return apptest.WebhookSecret(sid) }

func callbackURL(h *apptest.Harness, sid string) string { return h.CallbackURL(sid) }

// answer is what a client saw: status, body and headers (without Date).
type answer = apptest.Answer

// do sends req with a client that never follows redirects.
func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	return apptest.Do(t, req)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// cookieHeader is the Cookie header of a browser for the relay.
func cookieHeader(h *apptest.Harness, b *apptest.Browser) string {
	var parts []string
	for _, c := range b.Jar.Cookies(mustURL(h.URL)) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}
