package securitytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

const waitFor = 15 * time.Second // every wait's deadline; nothing sleeps

// watcher logs in as login, chooses streamer, connects the stream socket and waits until the
// stream feeds are active. It returns the browser, the socket and the relay session id (read
// from the callback URL of the subscriptions the session created in the simulator).
func watcher(t testing.TB, h *apptest.Harness, login, streamer string) (*apptest.Browser, *apptest.Socket, string) {
	t.Helper()
	before := sessionIDs(h)
	b, s := h.Watch(t, login, streamer)
	var sid string
	for id := range sessionIDs(h) {
		if !before[id] {
			sid = id
		}
	}
	if sid == "" {
		t.Fatalf("no new relay session id among the simulator's callbacks")
	}
	settled(t, h, sid)
	return b, s, sid
}

// settled waits until the simulator has finished verifying every subscription of the
// session: the relay marks a feed active when it answers the challenge, the simulator enables
// the subscription only once it has read that answer, and only then delivers to it.
func settled(t testing.TB, h *apptest.Harness, sid string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, s := range h.Sim.Subscriptions() {
		if strings.HasSuffix(s.Transport.Callback, "/callback/"+sid) {
			if _, err := h.Sim.WaitVerified(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sessionIDs returns the relay session ids found in the simulator's subscription callbacks.
func sessionIDs(h *apptest.Harness) map[string]bool {
	ids := map[string]bool{}
	for _, s := range h.Sim.Subscriptions() {
		if i := strings.LastIndex(s.Transport.Callback, "/callback/"); i >= 0 {
			ids[s.Transport.Callback[i+len("/callback/"):]] = true
		}
	}
	return ids
}

// subscriptionOf returns the session's subscription of type typ in the simulator.
func subscriptionOf(t testing.TB, h *apptest.Harness, sid, typ string) eventsub.Subscription {
	t.Helper()
	for _, s := range h.Sim.Subscriptions() {
		if s.Type == typ && strings.HasSuffix(s.Transport.Callback, "/callback/"+sid) {
			return s
		}
	}
	t.Fatalf("session has no %s subscription", typ)
	return eventsub.Subscription{}
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
	b, _ := json.Marshal(map[string]any{
		"subscription": sub,
		"event": map[string]any{
			"broadcaster_user_id": sub.Condition["broadcaster_user_id"], "broadcaster_user_login": "streamer",
			"broadcaster_user_name": "Streamer", "title": title, "language": "en",
			"category_id": "1", "category_name": "Chess", "content_classification_labels": []string{},
		},
	})
	return b
}

// signedRequest builds the POST Twitch would send to callbackURL, signed with secret.
func signedRequest(callbackURL, secret string, m msg) *http.Request {
	if m.Type == "" {
		m.Type = eventsub.MessageTypeNotification
	}
	if m.At.IsZero() {
		m.At = time.Now()
	}
	ts := m.At.UTC().Format(time.RFC3339Nano)
	req, _ := http.NewRequest(http.MethodPost, callbackURL, strings.NewReader(string(m.Body)))
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set(eventsub.HeaderMessageID, m.ID)
	h.Set(eventsub.HeaderMessageRetry, "0")
	h.Set(eventsub.HeaderMessageType, m.Type)
	h.Set(eventsub.HeaderMessageTimestamp, ts)
	h.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(secret), m.ID, ts, m.Body))
	h.Set(eventsub.HeaderSubscriptionType, eventsub.TypeChannelUpdate)
	h.Set(eventsub.HeaderSubscriptionVersion, "2")
	return req
}

// secretOf is the webhook secret the relay derives for a session.
func secretOf(sid string) string { return webhook.Secret([]byte(apptest.ServerSecret), sid) }

func callbackURL(h *apptest.Harness, sid string) string { return h.URL + "/callback/" + sid }

// answer is what a client saw: status, body and headers (without Date).
type answer struct {
	Status int
	Body   string
	Header http.Header
}

var httpc = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends req with a client that never follows redirects.
func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return answer{resp.StatusCode, string(b), resp.Header}
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
