package twitchsim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// channel.raid takes exactly one of its two condition fields; channel.chat.notification over
// webhook needs user:read:chat and user:bot from the reader and channel:bot from the
// broadcaster (or the reader moderating), as at Twitch: a plain viewer is refused.
func TestChatAndRaidCreateRules(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	cb := "http://127.0.0.1:9/callback"
	pixel, lou, maria, cozy := e.userID("pixelpaladin"), e.userID("lurker_lou"), e.userID("modmaria"), e.userID("cozycrafter")
	chat := func(reader, broadcaster string) eventsub.CreateRequest {
		return createReq(eventsub.TypeChatNotification, eventsub.Condition{"broadcaster_user_id": broadcaster, "user_id": reader}, cb)
	}
	e.userToken("lurker_lou", "user:read:chat")
	check := func(name string, req eventsub.CreateRequest, status int, want string) {
		t.Helper()
		r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, req)
		if r.status != status || (want != "" && !strings.Contains(r.message(t), want)) {
			t.Errorf("%s: got %d %s, want %d %q", name, r.status, r.body, status, want)
		}
	}
	check("raid with both fields", createReq(eventsub.TypeChannelRaid, eventsub.Condition{"from_broadcaster_user_id": pixel, "to_broadcaster_user_id": cozy}, cb), 400, "exactly one")
	check("raid with neither", createReq(eventsub.TypeChannelRaid, eventsub.Condition{}, cb), 400, "exactly one")
	check("raid with an empty one", createReq(eventsub.TypeChannelRaid, eventsub.Condition{"to_broadcaster_user_id": ""}, cb), 400, "missing")
	check("raid with a wrong field", createReq(eventsub.TypeChannelRaid, eventsub.Condition{"broadcaster_user_id": pixel}, cb), 400, "condition")
	check("chat without user_id", createReq(eventsub.TypeChatNotification, eventsub.Condition{"broadcaster_user_id": pixel}, cb), 400, "user_id")
	check("chat as a viewer with only user:read:chat", chat(lou, pixel), 403, "authorization")
	e.userToken("lurker_lou", "user:bot")
	check("chat as a viewer with user:bot, broadcaster without channel:bot", chat(lou, pixel), 403, "authorization")
	e.userToken("modmaria", "user:read:chat", "user:bot")
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, chat(maria, pixel))
	if r.status != http.StatusAccepted {
		t.Errorf("chat as a moderator with user:bot: %d %s, want 202", r.status, r.body)
	}
	e.userToken("pixelpaladin", "channel:bot")
	r = e.helix(http.MethodPost, "/eventsub/subscriptions", app, chat(lou, pixel))
	var lr eventsub.ListResponse
	r.json(t, &lr)
	if r.status != http.StatusAccepted || lr.Data[0].Cost != 0 {
		t.Errorf("chat as a bot viewer in a channel:bot channel: %d %s, want 202 at cost 0", r.status, r.body)
	}
	for name, cond := range map[string]eventsub.Condition{"to": {"to_broadcaster_user_id": cozy}, "from": {"from_broadcaster_user_id": cozy}} {
		r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeChannelRaid, cond, cb))
		var lr eventsub.ListResponse
		r.json(t, &lr)
		if r.status != http.StatusAccepted || lr.Data[0].Cost != 1 {
			t.Errorf("raid %s an unauthorized channel: %d %s, want 202 at cost 1", name, r.status, r.body)
		}
	}
	r = e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeChannelRaid, eventsub.Condition{"to_broadcaster_user_id": pixel}, cb))
	r.json(t, &lr)
	if r.status != http.StatusAccepted || lr.Data[0].Cost != 0 {
		t.Errorf("raid into a channel that authorized the client: %d %s, want cost 0", r.status, r.body)
	}
}

// chatEnv is a receiver subscribed to the chat notifications of broadcaster as a bot reader
// (modmaria, who moderates pixelpaladin and cozycrafter) and to raids into and out of it.
func chatEnv(t *testing.T, broadcaster string) (*env, *receiver) {
	e := newEnv(t, nil)
	rc := newReceiver(t, testSecret, nil)
	app := e.appToken()
	e.userToken("modmaria", "user:read:chat", "user:bot")
	b := e.userID(broadcaster)
	e.subscribe(app, eventsub.TypeChatNotification, eventsub.Condition{"broadcaster_user_id": b, "user_id": e.userID("modmaria")}, rc.url(), testSecret)
	e.subscribe(app, eventsub.TypeChannelRaid, eventsub.Condition{"to_broadcaster_user_id": b}, rc.url(), testSecret)
	e.subscribe(app, eventsub.TypeChannelRaid, eventsub.Condition{"from_broadcaster_user_id": b}, rc.url(), testSecret)
	return e, rc
}

func notices(t *testing.T, rc *receiver) []map[string]any {
	var out []map[string]any
	for _, m := range rc.messages(eventsub.MessageTypeNotification) {
		if _, ev, _ := m.payload(t); m.subType == eventsub.TypeChatNotification {
			out = append(out, ev)
		}
	}
	return out
}

// A community gift of 50 is 1 community_sub_gift and 50 sub_gift notices with its id, to 50
// different users who were not subscribed and now are; an anonymous one names Twitch's
// anonymous gifter and no cumulative total.
func TestCommunityGift(t *testing.T) {
	e, rc := chatEnv(t, "pixelpaladin")
	ctx := context.Background()
	before := len(e.sim.ChannelSubs("pixelpaladin"))
	if _, err := e.sim.CommunityGift(ctx, "", "pixelpaladin", 50, "1000"); err != nil {
		t.Fatal(err)
	}
	ns := notices(t, rc)
	if len(ns) != 51 {
		t.Fatalf("%d notices, want 1 + 50", len(ns))
	}
	sum := ns[0]
	obj, _ := sum["community_sub_gift"].(map[string]any)
	if sum["notice_type"] != "community_sub_gift" || obj == nil || obj["total"] != 50.0 || obj["cumulative_total"] != nil ||
		sum["chatter_is_anonymous"] != true || sum["chatter_user_login"] != anonymousLogin || sum["sub_gift"] != nil {
		t.Fatalf("summary = %v", sum)
	}
	seen := map[string]bool{}
	for _, n := range ns[1:] {
		g, _ := n["sub_gift"].(map[string]any)
		if n["notice_type"] != "sub_gift" || g == nil || g["community_gift_id"] != obj["id"] || n["chatter_is_anonymous"] != true {
			t.Fatalf("gift = %v", n)
		}
		r := g["recipient_user_id"].(string)
		if seen[r] {
			t.Fatalf("recipient %s got two gifts of one community gift", r)
		}
		seen[r] = true
	}
	if after := len(e.sim.ChannelSubs("pixelpaladin")); after != before+50 {
		t.Fatalf("channel subs %d → %d, want 50 more", before, after)
	}
	if n := len(e.sim.Users()); n != len(seedStreamers)+len(seedViewers) {
		t.Fatalf("Users lists %d, want only the seeded users (recipients from the crowd are not listed)", n)
	}
	// A named gifter: the summary and the gifts name them, with the channel total.
	if _, err := e.sim.CommunityGift(ctx, "gamergrace", "pixelpaladin", 3, "2000"); err != nil {
		t.Fatal(err)
	}
	ns = notices(t, rc)[51:]
	if len(ns) != 4 || ns[0]["chatter_user_login"] != "gamergrace" || ns[0]["community_sub_gift"].(map[string]any)["cumulative_total"] != 3.0 {
		t.Fatalf("named community gift: %v", ns)
	}
}

// The world keeps channel subscriptions: a sub then a resub counts months, a second sub is
// refused, a gifted sub can be continued, a Prime sub upgraded.
func TestChatNoticesKeepTheWorld(t *testing.T) {
	e, rc := chatEnv(t, "cozycrafter")
	ctx := context.Background()
	if _, err := e.sim.Subscribe(ctx, "h4x0r", "cozycrafter", "1000", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Subscribe(ctx, "h4x0r", "cozycrafter", "1000", false); !errors.Is(err, ErrAlreadySubscribed) {
		t.Fatalf("second sub: %v, want ErrAlreadySubscribed", err)
	}
	if _, err := e.sim.Resubscribe(ctx, "h4x0r", "cozycrafter", "<b>hi</b> Kappa", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Resubscribe(ctx, "lurker_lou", "cozycrafter", "", true); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("resub of a non-subscriber: %v", err)
	}
	if _, err := e.sim.GiftPaidUpgrade(ctx, "h4x0r", "cozycrafter"); !errors.Is(err, ErrNotGifted) {
		t.Fatalf("upgrade of a paid sub: %v", err)
	}
	if _, err := e.sim.GiftPaidUpgrade(ctx, "quietquinn", "cozycrafter"); err != nil { // seeded: an anonymous gift
		t.Fatal(err)
	}
	if _, err := e.sim.PrimePaidUpgrade(ctx, "modmaria", "cozycrafter", "2000"); err != nil { // seeded: Prime
		t.Fatal(err)
	}
	if _, err := e.sim.Announce(ctx, "lurker_lou", "cozycrafter", "x", "BLUE"); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("announcement by a viewer: %v", err)
	}
	ns := notices(t, rc)
	if len(ns) != 4 {
		t.Fatalf("%d notices, want sub, resub, gift_paid_upgrade, prime_paid_upgrade", len(ns))
	}
	resub := ns[1]["resub"].(map[string]any)
	if resub["cumulative_months"] != 2.0 || resub["streak_months"] != 2.0 || resub["is_gift"] != false ||
		ns[1]["message"].(map[string]any)["text"] != "<b>hi</b> Kappa" {
		t.Fatalf("resub = %v", ns[1])
	}
	frags := ns[1]["message"].(map[string]any)["fragments"].([]any)
	if len(frags) != 2 || frags[1].(map[string]any)["type"] != "emote" {
		t.Fatalf("fragments = %v, want text then the Kappa emote", frags)
	}
	if up := ns[2]["gift_paid_upgrade"].(map[string]any); up["gifter_is_anonymous"] != true || up["gifter_user_id"] != nil {
		t.Fatalf("gift_paid_upgrade = %v", up)
	}
	for _, cs := range e.sim.ChannelSubs("cozycrafter") {
		if cs.UserID == e.userID("quietquinn") && cs.Gift {
			t.Fatal("the continued gift sub is still a gift")
		}
		if cs.UserID == e.userID("modmaria") && (cs.Prime || cs.Tier != "2000") {
			t.Fatalf("the upgraded Prime sub is %+v", cs)
		}
	}
}

// A raid reaches subscriptions naming either channel, with the raider's viewers, who move to
// the raided stream; the raided channel's chat shows the raid notice. A channel that is not
// live cannot raid.
func TestRaid(t *testing.T) {
	e, rc := chatEnv(t, "cozycrafter")
	ctx := context.Background()
	night, _ := e.sim.User("nightowl_tv")
	viewers := night.Stream.ViewerCount
	if _, err := e.sim.Raid(ctx, "nightowl_tv", "cozycrafter"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Raid(ctx, "cozycrafter", "pixelpaladin"); !errors.Is(err, ErrNotLive) {
		t.Fatalf("raid by an offline channel: %v", err)
	}
	var raids []map[string]any
	for _, m := range rc.messages(eventsub.MessageTypeNotification) {
		if _, ev, _ := m.payload(t); m.subType == eventsub.TypeChannelRaid {
			raids = append(raids, ev)
		}
	}
	if len(raids) != 1 || raids[0]["viewers"] != float64(viewers) || raids[0]["from_broadcaster_user_login"] != "nightowl_tv" {
		t.Fatalf("raids = %v, want one of %d viewers", raids, viewers)
	}
	ns := notices(t, rc)
	if len(ns) != 1 || ns[0]["notice_type"] != "raid" || ns[0]["raid"].(map[string]any)["viewer_count"] != float64(viewers) {
		t.Fatalf("notices = %v", ns)
	}
	if after, _ := e.sim.User("nightowl_tv"); after.Stream.ViewerCount >= viewers {
		t.Fatalf("the raider kept %d of %d viewers", after.Stream.ViewerCount, viewers)
	}
	// Out of cozycrafter, once live: the from_ subscription gets it.
	if _, err := e.sim.GoLive(ctx, "cozycrafter", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Raid(ctx, "cozycrafter", "speedy_sam"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range rc.messages(eventsub.MessageTypeNotification) {
		if m.subType == eventsub.TypeChannelRaid {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d raids delivered, want 2 (into and out of cozycrafter)", n)
	}
}

// The activity generator's opening plays every chat notice type and a raid in the watched
// channel, including a community gift of 50 (1 + 50 notices with one id) and an anonymous
// gifter, and each notice agrees with the world.
func TestActivityOpeningShowsEveryNotice(t *testing.T) {
	e, rc := chatEnv(t, "pixelpaladin")
	ctx, cancel := context.WithCancel(context.Background())
	e.sim.StartActivity(ctx, 1)
	want := []string{"sub", "resub", "sub_gift", "community_sub_gift", "gift_paid_upgrade", "prime_paid_upgrade",
		"pay_it_forward", "raid", "unraid", "announcement", "bits_badge_tier", "charity_donation"}
	seen := map[string]int{}
	raids, anonymous := 0, 0
	deadline := time.After(30 * time.Second)
	for len(seen) < len(want) || raids == 0 || anonymous == 0 {
		select {
		case m := <-rc.arrived:
			if m.typ != eventsub.MessageTypeNotification {
				continue
			}
			_, ev, _ := m.payload(t)
			if m.subType == eventsub.TypeChannelRaid {
				raids++
				continue
			}
			seen[ev["notice_type"].(string)]++
			if ev["chatter_is_anonymous"] == true {
				anonymous++
			}
		case <-deadline:
			cancel()
			t.Fatalf("after 30 s the generator showed %v, %d raids, %d anonymous notices; want every one of %v", seen, raids, anonymous, want)
		}
	}
	cancel()
	e.sim.Close()
	subs := map[string]bool{}
	for _, cs := range e.sim.ChannelSubs("pixelpaladin") {
		subs[cs.UserID] = true
	}
	gifts := map[string]int{}
	totals := map[string]int{}
	for _, ev := range notices(t, rc) {
		switch ev["notice_type"] {
		case "sub_gift":
			g := ev["sub_gift"].(map[string]any)
			if !subs[g["recipient_user_id"].(string)] {
				t.Errorf("gift to %v, who is not subscribed in the world", g["recipient_user_id"])
			}
			if id, ok := g["community_gift_id"].(string); ok {
				gifts[id]++
			}
		case "community_sub_gift":
			if len(totals) == 0 { // the opening's, complete before the next tick (a later one may be cut by Close)
				c := ev["community_sub_gift"].(map[string]any)
				totals[c["id"].(string)] = int(c["total"].(float64))
			}
		}
	}
	if len(totals) == 0 {
		t.Fatal("no community gift")
	}
	for id, total := range totals {
		if total != communityGiftSize || gifts[id] != total {
			t.Errorf("community gift %s: total %d, %d individual gifts; want %d of each", id, total, gifts[id], communityGiftSize)
		}
	}
}
