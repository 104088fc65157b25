package relay

import (
	"context"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// A viewer who did not grant user:read:chat sees chat highlights unavailable with the reason,
// and nothing is asked of Twitch for it.
func TestChatHighlightsWithoutScope(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("lurker_lou", "pixelpaladin")
	s.Scopes = []string{"user:read:follows", "moderator:read:followers"}
	f := statusOf(e.ensure(s), FeedChatHighlights)
	if f.Status != StatusUnavailable || f.Reason != reasonChatScope || f.Name != "Chat highlights" {
		t.Fatalf("chat_highlights = %+v, want unavailable (%q)", f, reasonChatScope)
	}
	for _, sub := range e.sim.Subscriptions() {
		if sub.Type == eventsub.TypeChatNotification {
			t.Fatalf("a chat notification subscription was made: %+v", sub)
		}
	}
}

// Chat notifications go over the viewer's own Twitch WebSocket session whatever the default
// transport; a relay with no WebSocket sessions configured says the feed needs one: nothing
// is faked, nothing is asked of Twitch.
func TestChatHighlightsNeedTheWebSocketSession(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("lurker_lou", "pixelpaladin")
	got := e.ensure(s)
	if f := statusOf(got, FeedChatHighlights); f.Status != StatusUnavailable || f.Reason != reasonNeedsWebSocket {
		t.Fatalf("chat_highlights = %+v, want unavailable (%q)", f, reasonNeedsWebSocket)
	}
	if f := statusOf(got, FeedRaids); f.Status != StatusActive || f.Name != "Raids" {
		t.Fatalf("raids = %+v, want active", f)
	}
	if e.m.transportOf(eventsub.TypeChatNotification) != eventsub.TransportWebSocket || e.m.transportOf(eventsub.TypeChannelRaid) != eventsub.TransportWebhook {
		t.Fatal("default transports: chat notifications must be websocket, raids webhook")
	}
	ws := &Manager{cfg: Config{DefaultTransport: eventsub.TransportWebSocket}} // transportOf reads only cfg
	if ws.transportOf(eventsub.TypeChatNotification) != eventsub.TransportWebSocket || ws.transportOf(eventsub.TypeChannelRaid) != eventsub.TransportWebSocket {
		t.Fatal("websocket default: chat notifications and raids must be websocket")
	}
	for _, sub := range e.sim.Subscriptions() {
		if sub.Type == eventsub.TypeChatNotification {
			t.Fatalf("a chat notification subscription was made: %+v", sub)
		}
	}
}

// Over webhook (Transports), Twitch refuses chat notifications for a plain viewer (the feed
// says why) and allows them for a bot reader in a channel that granted channel:bot, whose
// session then receives every notice of a community gift, in order, as Chat highlights.
func TestChatHighlightsOverWebhook(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Transports = map[string]string{eventsub.TypeChatNotification: eventsub.TransportWebhook}
	})
	viewer := e.session("lurker_lou", "pixelpaladin")
	if f := statusOf(e.ensure(viewer), FeedChatHighlights); f.Status != StatusUnavailable || f.Reason != reasonChatBot {
		t.Fatalf("plain viewer's chat_highlights = %+v, want unavailable (%q)", f, reasonChatBot)
	}
	if _, err := e.sim.IssueUserToken("quietquinn", "user:bot"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.IssueUserToken("pixelpaladin", "channel:bot"); err != nil {
		t.Fatal(err)
	}
	bot := e.session("quietquinn", "pixelpaladin")
	if f := statusOf(e.ensure(bot), FeedChatHighlights); f.Status != StatusActive {
		t.Fatalf("bot's chat_highlights = %+v, want active", f)
	}
	var chat eventsub.Subscription
	for _, sub := range e.simSubs(bot.ID) {
		if sub.Type == eventsub.TypeChatNotification {
			chat = sub
		}
	}
	if chat.Condition["broadcaster_user_id"] != bot.Streamer.ID || chat.Condition["user_id"] != bot.UserID || len(chat.Condition) != 2 {
		t.Fatalf("chat notification condition = %v, want the streamer and the reader", chat.Condition)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := e.sim.WaitVerified(ctx, chat.ID); err != nil {
		t.Fatal(err)
	}
	ds, err := e.sim.CommunityGift(ctx, "", "pixelpaladin", 5, "1000")
	checkDelivered(t, "CommunityGift", ds, err)
	var evs []webhook.Event
	e.sink.wait(t, "6 chat highlights", func() bool {
		evs = e.sink.events[bot.ID]
		return len(evs) >= 6
	})
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	sum := evs[0].Notice
	if sum == nil || sum.Type != webhook.NoticeCommunitySubGift || sum.Total != 5 || !sum.Anonymous || evs[0].Actor.Name != webhook.AnonymousGifter {
		t.Fatalf("first event = %+v, want the anonymous community gift of 5", evs[0])
	}
	for _, ev := range evs[1:] {
		if ev.Notice == nil || ev.Notice.Type != webhook.NoticeSubGift || ev.Notice.GiftID != sum.GiftID || ev.Notice.Recipient == nil {
			t.Fatalf("gift = %+v, want a sub_gift of community gift %s", ev, sum.GiftID)
		}
	}
	if n := len(e.sink.Events(viewer.ID)); n != 0 {
		t.Fatalf("the plain viewer received %d chat highlights", n)
	}
}

// An incoming raid reaches every viewer of the raided streamer through one shared
// subscription.
func TestRaidsFeed(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.session("lurker_lou", "cozycrafter"), e.session("quietquinn", "cozycrafter")
	e.ensureAll(a, b)
	n := 0
	for _, sub := range e.sim.Subscriptions() {
		if sub.Type == eventsub.TypeChannelRaid {
			n++
			if sub.Condition["to_broadcaster_user_id"] != a.Streamer.ID || len(sub.Condition) != 1 {
				t.Fatalf("raid condition = %v", sub.Condition)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d raid subscriptions for two viewers of one streamer, want 1 shared", n)
	}
	for _, sub := range e.sim.Subscriptions() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		_, err := e.sim.WaitVerified(ctx, sub.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ds, err := e.sim.Raid(context.Background(), "nightowl_tv", "cozycrafter")
	checkDelivered(t, "Raid", ds, err)
	for _, s := range []Session{a, b} {
		e.sink.wait(t, "the raid", func() bool { return len(e.sink.events[s.ID]) == 1 })
		ev := e.sink.Events(s.ID)[0]
		if ev.Type != eventsub.TypeChannelRaid || ev.Actor.Login != "nightowl_tv" || ev.Viewers == 0 {
			t.Fatalf("raid event = %+v", ev)
		}
	}
}
