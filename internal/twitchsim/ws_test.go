package twitchsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// wsUnit is the simulator's WebSocket second in these tests: keepalive_timeout_seconds=10 is
// 10 of them.
const wsUnit = 20 * time.Millisecond

// wsWait bounds every wait in these tests.
const wsWait = 20 * time.Second

// wsClient is a raw WebSocket client of the simulator: every message it reads, and how the
// connection ended.
type wsClient struct {
	c     *websocket.Conn
	msgs  chan eventsub.WSMessage
	ended chan struct{}
	err   error // the read error, after ended
}

func newWSEnv(t *testing.T) *env {
	return newEnv(t, func(c *Config) { c.WSSecond = wsUnit })
}

// dialWS connects to url (the simulator's /ws with query, or a reconnect URL).
func (e *env) dialWS(url string) *wsClient {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		e.t.Fatalf("dial %s: %v", url, err)
	}
	w := &wsClient{c: c, msgs: make(chan eventsub.WSMessage, 1024), ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.err = err
				return
			}
			var m eventsub.WSMessage
			if err := json.Unmarshal(b, &m); err != nil {
				w.err = err
				return
			}
			w.msgs <- m
		}
	}()
	e.t.Cleanup(func() { c.CloseNow(); <-w.ended })
	return w
}

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws" + query
}

// next returns the next message that is not a keepalive (unless want is one).
func (w *wsClient) next(t *testing.T, want string) eventsub.WSMessage {
	t.Helper()
	timeout := time.After(wsWait)
	for {
		select {
		case m := <-w.msgs:
			if m.Metadata.MessageType == eventsub.MessageTypeKeepalive && want != eventsub.MessageTypeKeepalive {
				continue
			}
			if m.Metadata.MessageType != want {
				t.Fatalf("got %s, want %s", m.Metadata.MessageType, want)
			}
			return m
		case <-w.ended:
			t.Fatalf("connection ended (%v) waiting for %s", w.err, want)
		case <-timeout:
			t.Fatalf("no %s within %s", want, wsWait)
		}
	}
}

// closed waits for the connection to end and returns its close code.
func (w *wsClient) closed(t *testing.T) websocket.StatusCode {
	t.Helper()
	select {
	case <-w.ended:
		return websocket.CloseStatus(w.err)
	case <-time.After(wsWait):
		t.Fatalf("connection still open after %s", wsWait)
		return 0
	}
}

func (e *env) wsSubscribe(tok, sessionID, typ string, cond eventsub.Condition) result {
	e.t.Helper()
	return e.helix(http.MethodPost, "/eventsub/subscriptions", tok, eventsub.CreateRequest{Type: typ, Version: eventsub.Version(typ),
		Condition: cond, Transport: eventsub.Transport{Method: eventsub.TransportWebSocket, SessionID: sessionID}})
}

func welcomeSession(t *testing.T, w *wsClient) eventsub.WSSession {
	t.Helper()
	m := w.next(t, eventsub.MessageTypeWelcome)
	if m.Payload.Session == nil || m.Payload.Session.ID == "" || m.Payload.Session.Status != "connected" {
		t.Fatalf("welcome payload %+v", m.Payload)
	}
	return *m.Payload.Session
}

func TestWSWelcomeKeepaliveClamped(t *testing.T) {
	e := newWSEnv(t)
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 10}, {"?keepalive_timeout_seconds=3", 10}, {"?keepalive_timeout_seconds=30", 30}, {"?keepalive_timeout_seconds=601", 600}} {
		w := e.dialWS(e.wsURL(tc.query))
		s := welcomeSession(t, w)
		if s.KeepaliveTimeoutSeconds == nil || *s.KeepaliveTimeoutSeconds != tc.want {
			t.Errorf("%q: keepalive_timeout_seconds %v, want %d", tc.query, s.KeepaliveTimeoutSeconds, tc.want)
		}
		if s.ReconnectURL != nil {
			t.Errorf("%q: reconnect_url %q in a welcome, want null", tc.query, *s.ReconnectURL)
		}
	}
}

func TestWSKeepaliveThen4003WhenUnused(t *testing.T) {
	e := newWSEnv(t)
	w := e.dialWS(e.wsURL(""))
	welcomeSession(t, w)
	w.next(t, eventsub.MessageTypeKeepalive) // within the timeout, nothing else to say
	if code := w.closed(t); code != eventsub.CloseConnectionUnused {
		t.Fatalf("close code %d, want 4003 (nothing subscribed within the keepalive timeout)", code)
	}
}

func TestWSInboundMessageCloses4001(t *testing.T) {
	e := newWSEnv(t)
	w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	welcomeSession(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	if code := w.closed(t); code != eventsub.CloseInboundTraffic {
		t.Fatalf("close code %d, want 4001", code)
	}
}

func TestWSCreateNeedsUserTokenOfSessionOwner(t *testing.T) {
	e := newWSEnv(t)
	w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	sid := welcomeSession(t, w).ID
	lou := e.userToken("lurker_lou").AccessToken
	maria := e.userToken("modmaria").AccessToken
	cond := eventsub.Condition{"broadcaster_user_id": e.userID("pixelpaladin")}

	if r := e.wsSubscribe(e.appToken(), sid, eventsub.TypeStreamOnline, cond); r.status != http.StatusBadRequest {
		t.Errorf("app token: %d %s, want 400", r.status, r.body)
	}
	if r := e.wsSubscribe(lou, "no-such-session", eventsub.TypeStreamOnline, cond); r.status != http.StatusBadRequest {
		t.Errorf("unknown session: %d %s, want 400", r.status, r.body)
	}
	r := e.wsSubscribe(lou, sid, eventsub.TypeStreamOnline, cond)
	if r.status != http.StatusAccepted {
		t.Fatalf("user token: %d %s, want 202", r.status, r.body)
	}
	var created eventsub.ListResponse
	r.json(t, &created)
	if got := created.Data[0]; got.Status != eventsub.StatusEnabled || got.Transport.SessionID != sid || got.Cost != 1 || created.MaxTotalCost != 10 {
		t.Errorf("created %+v (max_total_cost %d), want enabled on %s with cost 1, max 10", got, created.MaxTotalCost, sid)
	}
	if r := e.wsSubscribe(lou, sid, eventsub.TypeStreamOnline, cond); r.status != http.StatusConflict {
		t.Errorf("same subscription on the same session: %d, want 409", r.status)
	}
	if r := e.wsSubscribe(maria, sid, eventsub.TypeStreamOffline, cond); r.status != http.StatusBadRequest {
		t.Errorf("another user's session: %d %s, want 400", r.status, r.body)
	}
	var list eventsub.ListResponse
	e.helix(http.MethodGet, "/eventsub/subscriptions", lou, nil).json(t, &list)
	if len(list.Data) != 1 || list.TotalCost != 1 {
		t.Errorf("user's list: %+v, want the one subscription, total_cost 1", list)
	}
	e.helix(http.MethodGet, "/eventsub/subscriptions", e.appToken(), nil).json(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("app token lists %d websocket subscriptions, want 0", len(list.Data))
	}
	id := created.Data[0].ID
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions?id="+id, maria, nil); r.status != http.StatusNotFound {
		t.Errorf("delete by another user: %d, want 404", r.status)
	}
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions?id="+id, lou, nil); r.status != http.StatusNoContent {
		t.Errorf("delete by its user: %d, want 204", r.status)
	}
}

func TestWSCostLimit(t *testing.T) {
	e := newWSEnv(t)
	w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	sid := welcomeSession(t, w).ID
	lou := e.userToken("lurker_lou").AccessToken
	n := 0
	for _, login := range []string{"pixelpaladin", "cozycrafter", "nightowl_tv"} {
		id := e.userID(login)
		for _, typ := range []string{eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate, eventsub.TypeUserUpdate} {
			cond := eventsub.Condition{"broadcaster_user_id": id}
			if typ == eventsub.TypeUserUpdate {
				cond = eventsub.Condition{"user_id": id}
			}
			r := e.wsSubscribe(lou, sid, typ, cond)
			n++
			switch {
			case n <= 10 && r.status != http.StatusAccepted:
				t.Fatalf("subscription %d: %d %s, want 202", n, r.status, r.body)
			case n == 11:
				if r.status != http.StatusTooManyRequests || !strings.Contains(r.message(t), "max_total_cost") {
					t.Fatalf("11th cost-1 subscription: %d %s, want 429 max_total_cost", r.status, r.body)
				}
				return
			}
		}
	}
}

func TestWSFourthConnectionRefused(t *testing.T) {
	e := newWSEnv(t)
	lou := e.userToken("lurker_lou").AccessToken
	cond := eventsub.Condition{"broadcaster_user_id": e.userID("pixelpaladin")}
	for i := range 4 {
		w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
		r := e.wsSubscribe(lou, welcomeSession(t, w).ID, eventsub.TypeChannelUpdate, eventsub.Condition{"broadcaster_user_id": cond["broadcaster_user_id"]})
		switch {
		case i < 3 && r.status != http.StatusAccepted:
			t.Fatalf("connection %d: %d %s, want 202", i+1, r.status, r.body)
		case i == 3 && (r.status != http.StatusTooManyRequests || !strings.Contains(r.message(t), "3 websocket connections")):
			t.Fatalf("4th connection: %d %s, want 429 (3 connections with enabled subscriptions)", r.status, r.body)
		}
	}
}

func TestWSNotificationReconnectAndRevocation(t *testing.T) {
	e := newWSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	old := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	sid := welcomeSession(t, old).ID
	lou := e.userToken("lurker_lou").AccessToken
	r := e.wsSubscribe(lou, sid, eventsub.TypeChannelUpdate, eventsub.Condition{"broadcaster_user_id": e.userID("pixelpaladin")})
	if r.status != http.StatusAccepted {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	if _, err := e.sim.UpdateChannel(ctx, "pixelpaladin", "one", ""); err != nil {
		t.Fatal(err)
	}
	n := old.next(t, eventsub.MessageTypeNotification)
	if n.Metadata.SubscriptionType != eventsub.TypeChannelUpdate || n.Payload.Subscription == nil || !strings.Contains(string(n.Payload.Event), `"title":"one"`) {
		t.Fatalf("notification %+v %s", n.Metadata, n.Payload.Event)
	}

	if err := e.sim.ReconnectWSSession(sid); err != nil {
		t.Fatal(err)
	}
	rc := old.next(t, eventsub.MessageTypeReconnect)
	if rc.Payload.Session == nil || rc.Payload.Session.ReconnectURL == nil || rc.Payload.Session.Status != "reconnecting" {
		t.Fatalf("session_reconnect payload %+v", rc.Payload.Session)
	}
	bad := e.dialWS(e.wsURL("?reconnect_id=forged"))
	if code := bad.closed(t); code != eventsub.CloseInvalidReconnect {
		t.Errorf("forged reconnect URL: close %d, want 4007", code)
	}
	fresh := e.dialWS(*rc.Payload.Session.ReconnectURL)
	if got := welcomeSession(t, fresh).ID; got != sid {
		t.Errorf("welcome after reconnect: session %s, want %s (subscriptions carry over)", got, sid)
	}
	// The notification in flight at the switch is sent again on the new connection, with
	// its message id: a client must de-duplicate.
	if again := fresh.next(t, eventsub.MessageTypeNotification); again.Metadata.MessageID != n.Metadata.MessageID {
		t.Errorf("resent notification id %s, want %s", again.Metadata.MessageID, n.Metadata.MessageID)
	}
	old.c.Close(websocket.StatusNormalClosure, "")
	if _, err := e.sim.UpdateChannel(ctx, "pixelpaladin", "two", ""); err != nil {
		t.Fatal(err)
	}
	if m := fresh.next(t, eventsub.MessageTypeNotification); !strings.Contains(string(m.Payload.Event), `"title":"two"`) {
		t.Errorf("after reconnect: %s", m.Payload.Event)
	}
	id := e.sim.WSSubscriptions()[0].ID
	if _, err := e.sim.RevokeSubscription(ctx, id, eventsub.StatusAuthorizationRevoked); err != nil {
		t.Fatal(err)
	}
	rv := fresh.next(t, eventsub.MessageTypeRevocation)
	if rv.Payload.Subscription == nil || rv.Payload.Subscription.ID != id || rv.Payload.Subscription.Status != eventsub.StatusAuthorizationRevoked {
		t.Errorf("revocation payload %+v", rv.Payload.Subscription)
	}
}

func TestWSReconnectNotFollowedCloses4004(t *testing.T) {
	e := newWSEnv(t)
	w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	sid := welcomeSession(t, w).ID
	lou := e.userToken("lurker_lou").AccessToken
	if r := e.wsSubscribe(lou, sid, eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": e.userID("cozycrafter")}); r.status != http.StatusAccepted {
		t.Fatalf("subscribe: %d", r.status)
	}
	if err := e.sim.ReconnectWSSession(sid); err != nil {
		t.Fatal(err)
	}
	w.next(t, eventsub.MessageTypeReconnect)
	if code := w.closed(t); code != eventsub.CloseReconnectGraceEnded {
		t.Fatalf("close %d, want 4004 after the reconnect grace time", code)
	}
}

func TestWSCloseCodesDisableSubscriptions(t *testing.T) {
	e := newWSEnv(t)
	lou := e.userToken("lurker_lou").AccessToken
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	for code := eventsub.CloseInternalError; code <= eventsub.CloseInvalidReconnect; code++ {
		w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
		sid := welcomeSession(t, w).ID
		r := e.wsSubscribe(lou, sid, eventsub.TypeChannelUpdate, eventsub.Condition{"broadcaster_user_id": e.userID("nightowl_tv")})
		if r.status != http.StatusAccepted {
			t.Fatalf("code %d: subscribe %d %s", code, r.status, r.body)
		}
		var created eventsub.ListResponse
		r.json(t, &created)
		if err := e.sim.CloseWSSession(sid, code, "test"); err != nil {
			t.Fatal(err)
		}
		if got := w.closed(t); int(got) != code {
			t.Errorf("closed with %d, want %d", got, code)
		}
		want := eventsub.CloseStatus(code)
		if _, err := e.sim.WaitWSSubscriptions(ctx, func(subs []eventsub.Subscription) bool {
			for _, s := range subs {
				if s.ID == created.Data[0].ID {
					return s.Status == want
				}
			}
			return false
		}); err != nil {
			t.Errorf("code %d: subscription not %s: %v", code, want, err)
		}
	}
	// Nothing is delivered to a disabled subscription.
	ds, err := e.sim.UpdateChannel(ctx, "nightowl_tv", "after", "")
	if err != nil || len(ds) != 0 {
		t.Errorf("channel update after every session closed: %d deliveries (%v), want 0", len(ds), err)
	}
	e.clock.Advance(wsDisabledKept * wsUnit)
	var list eventsub.ListResponse
	e.helix(http.MethodGet, "/eventsub/subscriptions", lou, nil).json(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("disabled websocket subscriptions still listed after a minute: %d", len(list.Data))
	}
}

func TestWSSubscriptionsPerConnectionLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WSSecond = wsUnit; c.WSSubscriptionsPerSession = 3 })
	w := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	sid := welcomeSession(t, w).ID
	lou := e.userToken("lurker_lou").AccessToken
	id := e.userID("pixelpaladin")
	for i, typ := range []string{eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate, eventsub.TypeUserUpdate} {
		cond := eventsub.Condition{"broadcaster_user_id": id}
		if typ == eventsub.TypeUserUpdate {
			cond = eventsub.Condition{"user_id": id}
		}
		r := e.wsSubscribe(lou, sid, typ, cond)
		switch {
		case i < 3 && r.status != http.StatusAccepted:
			t.Fatalf("subscription %d: %d %s", i+1, r.status, r.body)
		case i == 3 && (r.status != http.StatusTooManyRequests || !strings.Contains(r.message(t), "per-connection")):
			t.Fatalf("one over the per-connection limit: %d %s, want 429", r.status, r.body)
		}
	}
	// Another connection of the same user takes more.
	w2 := e.dialWS(e.wsURL("?keepalive_timeout_seconds=600"))
	if r := e.wsSubscribe(lou, welcomeSession(t, w2).ID, eventsub.TypeUserUpdate, eventsub.Condition{"user_id": id}); r.status != http.StatusAccepted {
		t.Errorf("on a second connection: %d %s", r.status, r.body)
	}
}
