package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// EVENTSUB_TRANSPORT=websocket, end to end: the real relay against the simulator's EventSub
// WebSocket server, browsers over real WebSockets.

// wsWait bounds the waits of these tests (a lost session is noticed after 6 s of silence).
const wsWait = 40 * time.Second

func wsHarness(t *testing.T) *apptest.Harness {
	t.Helper()
	return apptest.Start(t, apptest.Options{WebSocket: true})
}

// twitchSession waits for the one connected Twitch WebSocket session that has subscriptions.
func twitchSession(t *testing.T, h *apptest.Harness, not string) twitchsim.WSSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	ss, err := h.Sim.WaitWSSessions(ctx, func(ss []twitchsim.WSSession) bool {
		return len(ss) == 1 && ss[0].Subscribed && ss[0].ID != not && len(enabledOn(h, ss[0].ID)) > 0
	})
	if err != nil {
		t.Fatalf("no subscribed Twitch session: %v (%+v)", err, ss)
	}
	return ss[0]
}

func enabledOn(h *apptest.Harness, sessionID string) []eventsub.Subscription {
	var out []eventsub.Subscription
	for _, s := range h.Sim.WSSubscriptions() {
		if s.Transport.SessionID == sessionID && s.Status == eventsub.StatusEnabled {
			out = append(out, s)
		}
	}
	return out
}

// nextOf reads frames until one of typ arrives.
func nextOf(t *testing.T, s *client.Socket, typ string) client.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	for {
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

type missing struct {
	From, Until time.Time
	Reason      string
}

func missingOf(t *testing.T, f client.Frame) missing {
	t.Helper()
	var m struct {
		Event missing `json:"event"`
	}
	if err := json.Unmarshal(f.Raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Event
}

func update(t *testing.T, h *apptest.Harness, streamer, title string) []twitchsim.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	ds, err := h.Sim.UpdateChannel(ctx, streamer, title, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Err != nil {
			t.Fatalf("delivery of %q: %v", title, d.Err)
		}
	}
	return ds
}

func TestWebSocketModeSubscribesWithinTheWelcomeWindow(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	ts := twitchSession(t, h, "")
	subs := enabledOn(h, ts.ID)
	if len(subs) != 5 || len(h.Sim.Subscriptions()) != 0 {
		t.Errorf("%d websocket subscriptions on the session and %d webhook ones, want all 5 types over websocket only", len(subs), len(h.Sim.Subscriptions()))
	}
	if u, _ := h.Sim.User("modmaria"); ts.UserID != u.ID {
		t.Errorf("the Twitch session is %s's, want modmaria's own", ts.UserID)
	}
	if ds := update(t, h, "pixelpaladin", "over the websocket"); len(ds) != 1 || !strings.HasPrefix(ds[0].Callback, "websocket:") {
		t.Errorf("deliveries %+v, want one, over the websocket", ds)
	}
	f := nextOf(t, s, "event_updated")
	if f.Event == nil || f.Event.Type != eventsub.TypeChannelUpdate || !strings.Contains(f.Event.Summary, "over the websocket") {
		t.Errorf("event %+v", f.Event)
	}
}

func TestWebSocketKeepaliveTimeoutResubscribesAndReportsTheGap(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	first := twitchSession(t, h, "")
	before := time.Now()
	if err := h.Sim.SilenceWSSession(first.ID); err != nil {
		t.Fatal(err)
	}
	gap := missingOf(t, nextOf(t, s, "events_missing"))
	if !strings.Contains(gap.Reason, "keepalive") || gap.From.After(before) || !gap.Until.After(gap.From) {
		t.Errorf("events_missing %+v, want a keepalive timeout from before the silence to after", gap)
	}
	second := twitchSession(t, h, first.ID)
	if n := len(enabledOn(h, second.ID)); n != 5 {
		t.Errorf("%d subscriptions on the new session, want 5", n)
	}
	update(t, h, "pixelpaladin", "after the gap")
	if f := nextOf(t, s, "event_updated"); !strings.Contains(f.Event.Summary, "after the gap") {
		t.Errorf("event %+v", f.Event)
	}
}

func TestWebSocketReconnectUnderSteadyStreamLosesNothing(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	ts := twitchSession(t, h, "")
	const n = 120
	errs := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsWait)
		defer cancel()
		for i := range n {
			ds, err := h.Sim.UpdateChannel(ctx, "pixelpaladin", fmt.Sprintf("steady %03d", i), "")
			if err == nil && (len(ds) != 1 || ds[0].Err != nil) {
				err = fmt.Errorf("event %d: deliveries %+v", i, ds)
			}
			if err == nil && i == n/3 {
				err = h.Sim.ReconnectWSSession(ts.ID)
			}
			if err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	for i := range n {
		f, err := s.Next(ctx)
		for err == nil && f.Type != "event_updated" {
			if f.Type == "events_missing" {
				t.Fatalf("events_missing during a session_reconnect: %s", f.Raw)
			}
			f, err = s.Next(ctx)
		}
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("steady %03d", i); !strings.Contains(f.Event.Summary, want) {
			t.Log(h.Logs.String())
			t.Fatalf("event %d is %q, want %q (in order, none lost, none twice)", i, f.Event.Summary, want)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	ss := h.Sim.WSSessions()
	if len(ss) != 1 || ss[0].ID != ts.ID {
		t.Errorf("sessions %+v, want the same one, reconnected", ss)
	}
}

func TestWebSocketEachCloseCodeIsShownAndResubscribed(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	words := map[int]string{4000: "internal error", 4001: "must not send", 4002: "ping", 4003: "in time",
		4004: "reconnect", 4005: "timed out", 4006: "network failed", 4007: "refused the reconnect"}
	prev := ""
	for code := eventsub.CloseInternalError; code <= eventsub.CloseInvalidReconnect; code++ {
		ts := twitchSession(t, h, prev)
		if err := h.Sim.CloseWSSession(ts.ID, code, "test"); err != nil {
			t.Fatal(err)
		}
		gap := missingOf(t, nextOf(t, s, "events_missing"))
		if !strings.Contains(gap.Reason, words[code]) {
			t.Errorf("close %d: reason %q, want it to say %q", code, gap.Reason, words[code])
		}
		prev = ts.ID
	}
	twitchSession(t, h, prev)
	update(t, h, "pixelpaladin", "still here")
	if f := nextOf(t, s, "event_updated"); !strings.Contains(f.Event.Summary, "still here") {
		t.Errorf("event %+v", f.Event)
	}
}

// waitFeed reads feed statuses until feed has status, and returns its reason.
func waitFeed(t *testing.T, s *client.Socket, feed, status string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	fs, err := s.WaitFeeds(ctx, func(f map[string]client.Feed) bool { return f[feed].Status == status })
	if err != nil {
		t.Fatalf("feed %s never %s: %v (last: %+v)", feed, status, err, fs)
	}
	return fs[feed].Reason
}

// watchRaw logs in as login, chooses streamer and connects the stream socket, without
// waiting for any feed.
func watchRaw(t *testing.T, h *apptest.Harness, login, streamer string) *client.Socket {
	t.Helper()
	b := h.NewBrowser()
	if err := b.Login(login); err != nil {
		t.Fatal(err)
	}
	if status, _, err := b.ChooseStreamer(streamer); err != nil || status != http.StatusOK {
		t.Fatalf("choose %s: %d %v", streamer, status, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestWebSocketCostLimitIsShown(t *testing.T) {
	h := wsHarness(t)
	// lurker_lou is no moderator: channel.follow is unavailable, the other 4 types cost 1
	// each (none of these streamers authorized the app). 4 + 4 + 2: the 11th is refused.
	for _, streamer := range []string{"pixelpaladin", "cozycrafter"} {
		s := watchRaw(t, h, "lurker_lou", streamer)
		ctx, cancel := context.WithTimeout(context.Background(), wsWait)
		_, err := s.WaitFeeds(ctx, func(f map[string]client.Feed) bool {
			return f["stream_changed"].Status == "active" && f["user_changed"].Status == "active"
		})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", streamer, err)
		}
	}
	third := watchRaw(t, h, "lurker_lou", "nightowl_tv")
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	fs, err := third.WaitFeeds(ctx, func(f map[string]client.Feed) bool {
		return f["stream_changed"].Status != "pending" && f["user_changed"].Status != "pending" && f["followed_by"].Status != "pending"
	})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, f := range fs {
		if f.Status == "failed" {
			failed++
			if !strings.Contains(f.Reason, "limit for your login") {
				t.Errorf("feed %s failed with %q, want the login's limit said", f.Feed, f.Reason)
			}
		}
	}
	cost := 0
	for _, sub := range h.Sim.WSSubscriptions() {
		if sub.Status == eventsub.StatusEnabled {
			cost += sub.Cost
		}
	}
	if failed == 0 || cost != 10 {
		t.Errorf("%d feeds failed, total cost %d: want the cost limit (10) reached and shown", failed, cost)
	}
}

func TestWebSocketFourthConnectionRefusedIsShown(t *testing.T) {
	h := wsHarness(t)
	tok, err := h.Sim.IssueUserToken("modmaria")
	if err != nil {
		t.Fatal(err)
	}
	// Three connections of modmaria's elsewhere, each with a subscription.
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(h.SimURL, "http") + "/ws?keepalive_timeout_seconds=600"
	u, _ := h.Sim.User("speedy_sam")
	for i := range 3 {
		c, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var w eventsub.WSMessage
		if err := json.Unmarshal(b, &w); err != nil || w.Payload.Session == nil {
			t.Fatalf("welcome %s: %v", b, err)
		}
		read := make(chan struct{})
		go func() { // keep reading: pings are answered only while a read is pending
			defer close(read)
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { c.CloseNow(); <-read })
		body := fmt.Sprintf(`{"type":"stream.online","version":"1","condition":{"broadcaster_user_id":%q},"transport":{"method":"websocket","session_id":%q}}`, u.ID, w.Payload.Session.ID)
		req, _ := http.NewRequest(http.MethodPost, h.SimURL+"/helix/eventsub/subscriptions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Client-Id", apptest.ClientID)
		req.Header.Set("Content-Type", "application/json")
		if a := apptest.Do(t, req); a.Status != http.StatusAccepted {
			t.Fatalf("connection %d elsewhere: %d %s", i+1, a.Status, a.Body)
		}
	}
	s := watchRaw(t, h, "modmaria", "pixelpaladin")
	if reason := waitFeed(t, s, "stream_changed", "failed"); !strings.Contains(reason, "3 live connections") {
		t.Errorf("reason %q, want Twitch's 3-connection limit said", reason)
	}
}

func TestWebSocketTokenRefreshedWhileConnected(t *testing.T) {
	h := wsHarness(t)
	b, s := h.Watch(t, "modmaria", "pixelpaladin")
	h.Watch(t, "modmaria", "pixelpaladin") // another browser of hers keeps the Twitch session in use
	first := twitchSession(t, h, "")
	h.Clock.Advance(5 * time.Hour) // every access token expired; the socket to Twitch is unaffected
	if status, _, err := b.ChooseStreamer("cozycrafter"); err != nil || status != http.StatusOK {
		t.Fatalf("choose cozycrafter: %d %v", status, err)
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	s2, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	waitFeed(t, s2, "stream_changed", "active")
	if !strings.Contains(h.Logs.String(), "helix token rejected, retrying with a fresh token") {
		t.Error("no create was refused for the expired token: the test did not refresh anything")
	}
	ss := h.Sim.WSSessions()
	if len(ss) != 1 || ss[0].ID != first.ID {
		t.Errorf("Twitch sessions %+v, want the same one (%s) throughout", ss, first.ID)
	}
	update(t, h, "cozycrafter", "made with a refreshed token")
	if f := nextOf(t, s2, "event_updated"); !strings.Contains(f.Event.Summary, "refreshed token") {
		t.Errorf("event %+v", f.Event)
	}
}

func TestWebSocketRevocationIsShown(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	ts := twitchSession(t, h, "")
	var id string
	for _, sub := range enabledOn(h, ts.ID) {
		if sub.Type == eventsub.TypeUserUpdate {
			id = sub.ID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	if _, err := h.Sim.RevokeSubscription(ctx, id, eventsub.StatusUserRemoved); err != nil {
		t.Fatal(err)
	}
	if reason := waitFeed(t, s, "user_changed", "revoked"); !strings.Contains(reason, "no longer exists") {
		t.Errorf("revoked with %q", reason)
	}
}

func TestWebSocketSlowBrowserDoesNotBlockTheTwitchReader(t *testing.T) {
	h := wsHarness(t)
	b, s := h.Watch(t, "modmaria", "pixelpaladin")
	// A second tab of the same session that never reads a frame.
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	slow, err := b.DialWS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	if err := slow.Write(ctx, websocket.MessageText, []byte(`{"type":"stream_connected","epoch":"","last_seq":0}`)); err != nil {
		t.Fatal(err)
	}
	const n = 400
	big := strings.Repeat("x", 100) // fills the slow tab's buffers sooner
	for i := range n {
		update(t, h, "pixelpaladin", fmt.Sprintf("burst %03d %s", i, big)) // fails on any delivery the reader did not take
	}
	for i := range n {
		f := nextOf(t, s, "event_updated")
		if want := fmt.Sprintf("burst %03d", i); !strings.Contains(f.Event.Summary, want) {
			t.Fatalf("event %d: %q, want %q", i, f.Event.Summary, want)
		}
	}
}

func TestWebSocketInvalidTokenEndsTheTwitchSession(t *testing.T) {
	h := wsHarness(t)
	_, s := h.Watch(t, "modmaria", "pixelpaladin")
	twitchSession(t, h, "")
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	// She disconnects the app on Twitch: her tokens stop working and Twitch revokes her
	// subscriptions. The next validation ends her relay session, as for webhooks.
	if _, err := h.Sim.RevokeUser(ctx, "modmaria"); err != nil {
		t.Fatal(err)
	}
	h.App.Web.ValidateLive(ctx)
	var err error
	for err == nil {
		_, err = s.Next(ctx)
	}
	if code := websocket.CloseStatus(err); code != 4001 {
		t.Errorf("stream socket ended with %v, want 4001 (session ended)", err)
	}
	if _, err := h.Sim.WaitWSSessions(ctx, func(ss []twitchsim.WSSession) bool { return len(ss) == 0 }); err != nil {
		t.Errorf("her Twitch session is still connected: %v", err)
	}
}
