package apptest

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Callback is one EventSub webhook message as Twitch sends it to a relay session's callback.
type Callback struct {
	Type  string    // notification (the default), revocation, webhook_callback_verification, ...
	ID    string    // Twitch-Eventsub-Message-Id ("" sends the header empty)
	At    time.Time // Twitch-Eventsub-Message-Timestamp; zero: now
	Retry int       // Twitch-Eventsub-Message-Retry: 0 the first time, then 1, 2, ...
	Body  []byte
	// The Twitch-Eventsub-Subscription-Type and -Version headers; "" takes them from the
	// body's subscription, as Twitch sends them (left out when the body has none).
	SubscriptionType, SubscriptionVersion string
}

// SignedCallback builds the POST that Twitch would send to callbackURL, signed with secret.
func SignedCallback(callbackURL, secret string, c Callback) *http.Request {
	if c.Type == "" {
		c.Type = eventsub.MessageTypeNotification
	}
	if c.At.IsZero() {
		c.At = time.Now()
	}
	if c.SubscriptionType == "" || c.SubscriptionVersion == "" {
		var body struct{ Subscription eventsub.Subscription }
		_ = json.Unmarshal(c.Body, &body) // not JSON: no headers, like a body without a subscription
		c.SubscriptionType = cmp.Or(c.SubscriptionType, body.Subscription.Type)
		c.SubscriptionVersion = cmp.Or(c.SubscriptionVersion, body.Subscription.Version)
	}
	ts := c.At.UTC().Format(time.RFC3339Nano)
	req, _ := http.NewRequest(http.MethodPost, callbackURL, strings.NewReader(string(c.Body)))
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set(eventsub.HeaderMessageID, c.ID)
	h.Set(eventsub.HeaderMessageRetry, strconv.Itoa(c.Retry))
	h.Set(eventsub.HeaderMessageType, c.Type)
	h.Set(eventsub.HeaderMessageTimestamp, ts)
	h.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(secret), c.ID, ts, c.Body))
	if c.SubscriptionType != "" {
		h.Set(eventsub.HeaderSubscriptionType, c.SubscriptionType)
	}
	if c.SubscriptionVersion != "" {
		h.Set(eventsub.HeaderSubscriptionVersion, c.SubscriptionVersion)
	}
	return req
}

// WebhookSecret is the secret the relay derives for session sid's subscriptions.
func WebhookSecret(sid string) string { return webhook.Secret([]byte(ServerSecret), sid) }

// CallbackURL is the callback of relay session sid.
func (h *Harness) CallbackURL(sid string) string { return h.URL + "/callback/" + sid }

// ChannelUpdateBody is a channel.update notification body for sub, with title.
func ChannelUpdateBody(sub eventsub.Subscription, title string) []byte {
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

// Answer is what a client got: status, body and headers (without Date).
type Answer struct {
	Status int
	Body   string
	Header http.Header
}

var noRedirects = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends req with a client that never follows redirects and reads the whole answer.
func Do(tb testing.TB, req *http.Request) Answer {
	tb.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return Answer{resp.StatusCode, string(b), resp.Header}
}

// CloseIdleConnections closes Do's idle keep-alive connections (each holds client goroutines).
func CloseIdleConnections() { noRedirects.CloseIdleConnections() }

// SessionIDs returns the relay session ids found in the simulator's subscription callbacks.
func (h *Harness) SessionIDs() map[string]bool {
	ids := map[string]bool{}
	for _, s := range h.Sim.Subscriptions() {
		if i := strings.LastIndex(s.Transport.Callback, "/callback/"); i >= 0 {
			ids[s.Transport.Callback[i+len("/callback/"):]] = true
		}
	}
	return ids
}

// Subscriptions returns relay session sid's subscriptions in the simulator, by type (the
// oldest of a type).
func (h *Harness) Subscriptions(sid string) map[string]eventsub.Subscription {
	out := map[string]eventsub.Subscription{}
	for _, s := range h.Sim.Subscriptions() {
		if _, dup := out[s.Type]; !dup && strings.HasSuffix(s.Transport.Callback, "/callback/"+sid) {
			out[s.Type] = s
		}
	}
	return out
}

// Subscription returns relay session sid's subscription of type typ in the simulator.
func (h *Harness) Subscription(tb testing.TB, sid, typ string) eventsub.Subscription {
	tb.Helper()
	s, ok := h.Subscriptions(sid)[typ]
	if !ok {
		tb.Fatalf("session has no %s subscription", typ)
	}
	return s
}

// WatchSession is Watch that also returns the relay session id (read from the callback URL
// of the subscriptions the session created in the simulator), once the simulator has
// verified every one of them.
func (h *Harness) WatchSession(tb testing.TB, login, streamer string) (*Browser, *Socket, string) {
	tb.Helper()
	before := h.SessionIDs()
	b, s := h.Watch(tb, login, streamer)
	var sid string
	for id := range h.SessionIDs() {
		if !before[id] {
			sid = id
		}
	}
	if sid == "" {
		tb.Fatalf("no new relay session id among the simulator's callbacks")
	}
	h.WaitSessionVerified(tb, sid)
	return b, s, sid
}

// WaitSessionVerified waits until the simulator has finished verifying every subscription of
// session sid: the relay marks a feed active when it answers the challenge, the simulator
// enables the subscription only once it has read that answer, and only then delivers to it.
func (h *Harness) WaitSessionVerified(tb testing.TB, sid string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range h.Sim.Subscriptions() {
		if strings.HasSuffix(s.Transport.Callback, "/callback/"+sid) {
			if _, err := h.Sim.WaitVerified(ctx, s.ID); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
