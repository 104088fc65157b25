package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
)

// Chat highlights, end to end, for a plain viewer (no bot scopes; lurker_lou moderates
// nobody): the chat notification subscription is made with the viewer's own token on the
// viewer's Twitch WebSocket session in both transports (beside the shared webhooks in webhook
// mode), raids go the transport's way, and a gift bomb of 50 by an anonymous gifter reaches
// the page as 51 chat highlights, the summary first.
func TestChatHighlightsOverTheViewersTwitchSession(t *testing.T) {
	for _, transport := range []string{"webhook", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{WebSocket: transport == "websocket"})
			_, s := h.Watch(t, "lurker_lou", "pixelpaladin")
			lou, _ := h.Sim.User("lurker_lou")
			pp, _ := h.Sim.User("pixelpaladin")
			ctx, cancel := context.WithTimeout(t.Context(), wsWait)
			defer cancel()
			// Watch returned once no feed is pending: chat highlights are active by now, their
			// subscription on the viewer's session.
			wsTypes := map[string]bool{}
			for _, sub := range h.Sim.WSSubscriptions() {
				if sub.Status != eventsub.StatusEnabled {
					continue
				}
				wsTypes[sub.Type] = true
				if sub.Type == eventsub.TypeChatNotification && (sub.Condition["user_id"] != lou.ID || sub.Condition["broadcaster_user_id"] != pp.ID) {
					t.Errorf("chat notification condition %v, want lurker_lou reading pixelpaladin's chat", sub.Condition)
				}
			}
			hookTypes := map[string]bool{}
			for _, sub := range h.Sim.Subscriptions() {
				hookTypes[sub.Type] = true
			}
			if !wsTypes[eventsub.TypeChatNotification] || hookTypes[eventsub.TypeChatNotification] {
				t.Errorf("chat notifications over websocket %v, over webhook %v; want websocket only", wsTypes[eventsub.TypeChatNotification], hookTypes[eventsub.TypeChatNotification])
			}
			if overWS := transport == "websocket"; wsTypes[eventsub.TypeChannelRaid] != overWS || hookTypes[eventsub.TypeChannelRaid] == overWS {
				t.Errorf("%s mode: raids over websocket %v, over webhook %v", transport, wsTypes[eventsub.TypeChannelRaid], hookTypes[eventsub.TypeChannelRaid])
			}

			ds, err := h.Sim.CommunityGift(ctx, "", "pixelpaladin", 50, "1000")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Err != nil || !strings.HasPrefix(d.Callback, "websocket:") {
					t.Fatalf("delivery %+v, want each over the viewer's Twitch WebSocket session", d)
				}
			}
			for i := 0; i < 51; {
				f, err := s.NextEvent(ctx)
				if err != nil {
					t.Fatalf("chat highlight %d of 51: %v", i+1, err)
				}
				if f.Event.Type != eventsub.TypeChatNotification {
					continue // a follow or a title change of the harness's world is fine
				}
				var n struct {
					Event struct {
						Notice struct {
							Type      string `json:"type"`
							Total     int    `json:"total"`
							Anonymous bool   `json:"anonymous"`
						} `json:"notice"`
					} `json:"event"`
				}
				if err := json.Unmarshal(f.Raw, &n); err != nil {
					t.Fatal(err)
				}
				no := n.Event.Notice
				if i == 0 && (no.Type != "community_sub_gift" || no.Total != 50 || !no.Anonymous) {
					t.Fatalf("first chat highlight %+v, want the anonymous community gift of 50", no)
				}
				if i > 0 && no.Type != "sub_gift" {
					t.Fatalf("chat highlight %d is a %s, want a sub_gift", i+1, no.Type)
				}
				i++
			}
		})
	}
}

// A viewer who declined user:read:chat at Twitch's consent sees chat highlights unavailable
// with the reason, and nothing is asked of Twitch for them; the other feeds work.
func TestChatHighlightsWithoutTheReadChatScope(t *testing.T) {
	for _, transport := range []string{"webhook", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{WebSocket: transport == "websocket"})
			b := h.NewBrowser()
			au, err := b.Authorize()
			if err != nil {
				t.Fatal(err)
			}
			q := au.Query()
			scopes := strings.Fields(q.Get("scope"))
			if !slices.Contains(scopes, "user:read:chat") {
				t.Fatalf("the login asks for %v, want user:read:chat among them", scopes)
			}
			q.Set("scope", strings.Join(slices.DeleteFunc(scopes, func(s string) bool { return s == "user:read:chat" }), " "))
			au.RawQuery = q.Encode()
			back, err := b.Consent(au, "lurker_lou", "authorize")
			if err != nil {
				t.Fatal(err)
			}
			if status, _, err := b.Get(back.String()); err != nil || status != http.StatusOK {
				t.Fatalf("login back = %d %v", status, err)
			}
			if status, body, err := b.ChooseStreamer("pixelpaladin"); err != nil || status != http.StatusOK {
				t.Fatalf("choose = %d %v\n%.300s", status, err, body)
			}
			ctx, cancel := context.WithTimeout(t.Context(), wsWait)
			defer cancel()
			s, err := b.Connect(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			f, err := s.WaitFeeds(ctx, func(f map[string]client.Feed) bool {
				return f["chat_highlights"].Status == "unavailable" && f["raids"].Status == "active"
			})
			if err != nil {
				t.Fatalf("feeds %+v: %v", f, err)
			}
			if r := f["chat_highlights"].Reason; !strings.Contains(r, "did not allow twitchrelay to read chat notifications") {
				t.Errorf("reason %q, want it to say the permission was not given", r)
			}
			for _, sub := range append(h.Sim.WSSubscriptions(), h.Sim.Subscriptions()...) {
				if sub.Type == eventsub.TypeChatNotification {
					t.Errorf("a chat notification subscription was made: %+v", sub)
				}
			}
		})
	}
}

// In webhook mode a lost Twitch WebSocket session touches only chat highlights: the page is
// told which span may be missing, the chat notification is subscribed again on the viewer's
// next session, the webhook feeds keep their subscriptions, and a notice after the loss
// arrives.
func TestChatHighlightsSessionLostInWebhookMode(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s := h.Watch(t, "lurker_lou", "pixelpaladin")
	hooks := len(h.Sim.Subscriptions())
	first := twitchSession(t, h, "")
	if err := h.Sim.CloseWSSession(first.ID, eventsub.CloseNetworkError, "test"); err != nil {
		t.Fatal(err)
	}
	gap := missingOf(t, nextOf(t, s, "events_missing"))
	if !strings.Contains(gap.Reason, "network failed") {
		t.Errorf("events_missing %+v, want the network failure said", gap)
	}
	second := twitchSession(t, h, first.ID)
	if subs := enabledOn(h, second.ID); len(subs) != 1 || subs[0].Type != eventsub.TypeChatNotification {
		t.Errorf("subscriptions on the new session %+v, want the chat notification only", subs)
	}
	if n := len(h.Sim.Subscriptions()); n != hooks {
		t.Errorf("%d webhook subscriptions after the loss, want the %d from before", n, hooks)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wsWait)
	defer cancel()
	if _, err := h.Sim.Announce(ctx, "pixelpaladin", "pixelpaladin", "after the gap", "BLUE"); err != nil {
		t.Fatal(err)
	}
	if f := nextOf(t, s, "event_updated"); f.Event.Type != eventsub.TypeChatNotification || !strings.Contains(string(f.Raw), "after the gap") {
		t.Errorf("event after the loss %s", f.Raw)
	}
}
