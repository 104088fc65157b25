package webhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// noticeObjects are every per-type object channel.chat.notification v1 carries; Twitch sends
// all of them, null except the one named by notice_type.
var noticeObjects = []string{"sub", "resub", "sub_gift", "community_sub_gift", "gift_paid_upgrade", "prime_paid_upgrade",
	"raid", "unraid", "pay_it_forward", "announcement", "bits_badge_tier", "charity_donation",
	"shared_chat_sub", "shared_chat_resub", "shared_chat_sub_gift", "shared_chat_community_sub_gift",
	"shared_chat_gift_paid_upgrade", "shared_chat_prime_paid_upgrade", "shared_chat_raid", "shared_chat_pay_it_forward",
	"shared_chat_announcement"}

// chatEvent is a complete channel.chat.notification event as Twitch documents it: common
// fields, every object null but noticeType's, no shared chat unless source is set.
func chatEvent(t *testing.T, noticeType, object, system, text, source string, anonymous bool) json.RawMessage {
	t.Helper()
	ev := map[string]any{
		"broadcaster_user_id": "1971641", "broadcaster_user_login": "streamer", "broadcaster_user_name": "streamer",
		"chatter_user_id": "49912639", "chatter_user_login": "viewer23", "chatter_user_name": "viewer23",
		"chatter_is_anonymous": anonymous, "color": "", "badges": []any{map[string]any{"set_id": "subscriber", "id": "12", "info": "16"}},
		"system_message": system, "message_id": "d62235c8-47ff-a4f4-84e8-5a29a65a9c03",
		"message":                    map[string]any{"text": text, "fragments": fragments(text)},
		"notice_type":                noticeType,
		"source_broadcaster_user_id": nil, "source_broadcaster_user_login": nil, "source_broadcaster_user_name": nil,
		"source_message_id": nil, "source_badges": nil,
	}
	if anonymous {
		ev["chatter_user_id"], ev["chatter_user_login"], ev["chatter_user_name"] = "274598607", "ananonymousgifter", "AnAnonymousGifter"
	}
	if source != "" {
		ev["source_broadcaster_user_id"], ev["source_broadcaster_user_login"], ev["source_broadcaster_user_name"] = "112233", source, strings.ToUpper(source)
		ev["source_message_id"] = "2be7193d-0366-4453-b6ec-b288ce9f2c39"
		ev["source_badges"] = []any{map[string]any{"set_id": "subscriber", "id": "3", "info": "3"}}
	}
	for _, o := range noticeObjects {
		ev[o] = nil
	}
	if object != "" {
		ev[noticeType] = json.RawMessage(object)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fragments splits text the way Twitch does for a message with the emote "Kappa" in it.
func fragments(text string) []any {
	if text == "" {
		return []any{}
	}
	var out []any
	for i, part := range strings.Split(text, "Kappa") {
		if i > 0 {
			out = append(out, map[string]any{"type": "emote", "text": "Kappa", "cheermote": nil, "mention": nil,
				"emote": map[string]any{"id": "25", "emote_set_id": "0", "owner_id": "0", "format": []string{"static"}}})
		}
		if part != "" {
			out = append(out, map[string]any{"type": "text", "text": part, "cheermote": nil, "emote": nil, "mention": nil})
		}
	}
	return out
}

func TestDecodeChatNotification(t *testing.T) {
	viewer := Actor{"49912639", "viewer23", "viewer23"}
	anon := Actor{Name: AnonymousGifter}
	tests := []struct {
		name, noticeType, object, system, text, source string
		anonymous                                      bool
		wantActor                                      Actor
		want                                           Notice
		wantSummary                                    string
	}{
		{name: "sub", noticeType: "sub", object: `{"sub_tier":"1000","is_prime":false,"duration_months":1}`,
			system: "viewer23 subscribed at Tier 1.", wantActor: viewer,
			want:        Notice{Type: "sub", Tier: "1", Paid: 1},
			wantSummary: "viewer23 subscribed at Tier 1"},
		{name: "prime sub for 3 months", noticeType: "sub", object: `{"sub_tier":"1000","is_prime":true,"duration_months":3}`,
			system: "viewer23 subscribed with Prime.", wantActor: viewer,
			want:        Notice{Type: "sub", Tier: "prime", Paid: 3},
			wantSummary: "viewer23 subscribed with Prime for 3 months"},
		{name: "resub with HTML and an emote", noticeType: "resub",
			object: `{"cumulative_months":12,"duration_months":1,"streak_months":5,"sub_tier":"2000","is_prime":false,"is_gift":false,"gifter_is_anonymous":null,"gifter_user_id":null,"gifter_user_login":null,"gifter_user_name":null}`,
			system: "viewer23 subscribed at Tier 2. They've subscribed for 12 months, currently on a 5 month streak!",
			text:   "<b>bold</b> Kappa <img src=x onerror=alert(1)>", wantActor: viewer,
			want:        Notice{Type: "resub", Tier: "2", Months: 12, Streak: 5, Paid: 1, Text: "<b>bold</b> Kappa <img src=x onerror=alert(1)>"},
			wantSummary: "viewer23 resubscribed at Tier 2: 12 months, 5 in a row: <b>bold</b> Kappa <img src=x onerror=alert(1)>"},
		{name: "resub without streak, gifted anonymously", noticeType: "resub",
			object: `{"cumulative_months":4,"duration_months":1,"streak_months":null,"sub_tier":"1000","is_prime":false,"is_gift":true,"gifter_is_anonymous":true,"gifter_user_id":null,"gifter_user_login":null,"gifter_user_name":null}`,
			system: "viewer23 subscribed at Tier 1. They've subscribed for 4 months!", wantActor: viewer,
			want:        Notice{Type: "resub", Tier: "1", Months: 4, Paid: 1, Gifter: &anon, GifterAnonymous: true},
			wantSummary: "viewer23 resubscribed at Tier 1: 4 months (gifted by An anonymous gifter)"},
		{name: "sub_gift of a community gift", noticeType: "sub_gift",
			object: `{"duration_months":1,"cumulative_total":null,"recipient_user_id":"8675309","recipient_user_login":"giftee","recipient_user_name":"Giftee","sub_tier":"1000","community_gift_id":"14751496585464788582"}`,
			system: "viewer23 gifted a Tier 1 sub to Giftee!", wantActor: viewer,
			want:        Notice{Type: "sub_gift", Tier: "1", Paid: 1, Recipient: &Actor{"8675309", "giftee", "Giftee"}, GiftID: "14751496585464788582"},
			wantSummary: "viewer23 gifted a Tier 1 sub to Giftee"},
		{name: "sub_gift alone", noticeType: "sub_gift",
			object: `{"duration_months":6,"cumulative_total":27,"recipient_user_id":"8675309","recipient_user_login":"giftee","recipient_user_name":"Giftee","sub_tier":"3000","community_gift_id":null}`,
			system: "viewer23 gifted 6 months of Tier 3 to Giftee. They've gifted 27 months in the channel!", wantActor: viewer,
			want:        Notice{Type: "sub_gift", Tier: "3", Paid: 6, Recipient: &Actor{"8675309", "giftee", "Giftee"}, GifterTotal: 27},
			wantSummary: "viewer23 gifted a Tier 3 sub to Giftee"},
		{name: "community_sub_gift by an anonymous gifter", noticeType: "community_sub_gift", anonymous: true,
			object: `{"id":"14751496585464788582","total":50,"sub_tier":"1000","cumulative_total":null}`,
			system: "An anonymous user is gifting 50 Tier 1 Subs to streamer's community!", wantActor: anon,
			want:        Notice{Type: "community_sub_gift", Anonymous: true, Tier: "1", GiftID: "14751496585464788582", Total: 50},
			wantSummary: "An anonymous gifter gifted 50 Tier 1 subs to the community"},
		{name: "community_sub_gift", noticeType: "community_sub_gift",
			object: `{"id":"9","total":1,"sub_tier":"2000","cumulative_total":3}`,
			system: "viewer23 is gifting 1 Tier 2 Sub to streamer's community! They've gifted a total of 3 in the channel!", wantActor: viewer,
			want:        Notice{Type: "community_sub_gift", Tier: "2", GiftID: "9", Total: 1, GifterTotal: 3},
			wantSummary: "viewer23 gifted 1 Tier 2 sub to the community"},
		{name: "gift_paid_upgrade", noticeType: "gift_paid_upgrade",
			object: `{"gifter_is_anonymous":false,"gifter_user_id":"5","gifter_user_login":"santa","gifter_user_name":"Santa"}`,
			system: "viewer23 is continuing the Gift Sub they got from Santa!", wantActor: viewer,
			want:        Notice{Type: "gift_paid_upgrade", Gifter: &Actor{"5", "santa", "Santa"}},
			wantSummary: "viewer23 is continuing the gift sub they got from Santa"},
		{name: "gift_paid_upgrade from an anonymous gifter", noticeType: "gift_paid_upgrade",
			object: `{"gifter_is_anonymous":true,"gifter_user_id":null,"gifter_user_login":null,"gifter_user_name":null}`,
			system: "viewer23 is continuing the Gift Sub they got from an anonymous user!", wantActor: viewer,
			want:        Notice{Type: "gift_paid_upgrade", Gifter: &anon, GifterAnonymous: true},
			wantSummary: "viewer23 is continuing the gift sub they got from An anonymous gifter"},
		{name: "prime_paid_upgrade", noticeType: "prime_paid_upgrade", object: `{"sub_tier":"1000"}`,
			system: "viewer23 converted from a Prime sub to a Tier 1 sub!", wantActor: viewer,
			want:        Notice{Type: "prime_paid_upgrade", Tier: "1"},
			wantSummary: "viewer23 upgraded their Prime sub to a Tier 1 sub"},
		{name: "pay_it_forward", noticeType: "pay_it_forward",
			object: `{"gifter_is_anonymous":false,"gifter_user_id":"5","gifter_user_login":"santa","gifter_user_name":"Santa"}`,
			system: "viewer23 is paying forward the Gift they got from Santa to the community!", wantActor: viewer,
			want:        Notice{Type: "pay_it_forward", Gifter: &Actor{"5", "santa", "Santa"}},
			wantSummary: "viewer23 is paying forward the gift they got from Santa"},
		{name: "raid", noticeType: "raid",
			object: `{"user_id":"123","user_login":"raider","user_name":"Raider","viewer_count":42,"profile_image_url":"https://static-cdn.jtvnw.net/x.png"}`,
			system: "42 raiders from Raider have joined!", wantActor: viewer,
			want:        Notice{Type: "raid", Raider: &Actor{"123", "raider", "Raider"}, Viewers: 42},
			wantSummary: "Raider is raiding with 42 viewers"},
		{name: "unraid", noticeType: "unraid", object: `{}`, system: "The raid has been canceled.", wantActor: viewer,
			want: Notice{Type: "unraid"}, wantSummary: "The raid was cancelled"},
		{name: "announcement", noticeType: "announcement", object: `{"color":"PURPLE"}`, system: "",
			text: "Stream starts <i>early</i> tomorrow!", wantActor: viewer,
			want:        Notice{Type: "announcement", Color: "purple", Text: "Stream starts <i>early</i> tomorrow!"},
			wantSummary: "Announcement from viewer23: Stream starts <i>early</i> tomorrow!"},
		{name: "announcement in an unknown colour", noticeType: "announcement", object: `{"color":"red; background:url(x)"}`,
			text: "hi", wantActor: viewer,
			want: Notice{Type: "announcement", Color: "primary", Text: "hi"}, wantSummary: "Announcement from viewer23: hi"},
		{name: "bits_badge_tier", noticeType: "bits_badge_tier", object: `{"tier":1000}`,
			system: "bits badge tier notification", wantActor: viewer,
			want: Notice{Type: "bits_badge_tier", BitsTier: 1000}, wantSummary: "viewer23 unlocked the 1000 bits badge"},
		{name: "charity_donation", noticeType: "charity_donation",
			object: `{"charity_name":"Example Charity","amount":{"value":1050,"decimal_places":2,"currency":"USD"}}`,
			system: "viewer23: Donated USD 10.50 to support Example Charity", wantActor: viewer,
			want:        Notice{Type: "charity_donation", Charity: "Example Charity", Amount: "10.50 USD"},
			wantSummary: "viewer23 donated 10.50 USD to Example Charity"},
		{name: "shared_chat_sub from another channel", noticeType: "shared_chat_sub", source: "partnerchan",
			object: `{"sub_tier":"3000","is_prime":false,"duration_months":1}`,
			system: "viewer23 subscribed at Tier 3.", wantActor: viewer,
			want:        Notice{Type: "sub", Shared: true, Source: &Actor{"112233", "partnerchan", "PARTNERCHAN"}, Tier: "3", Paid: 1},
			wantSummary: "viewer23 subscribed at Tier 3"},
		{name: "shared_chat_announcement", noticeType: "shared_chat_announcement", source: "partnerchan",
			object: `{"color":"green"}`, text: "hello both chats", wantActor: viewer,
			want:        Notice{Type: "announcement", Shared: true, Source: &Actor{"112233", "partnerchan", "PARTNERCHAN"}, Color: "green", Text: "hello both chats"},
			wantSummary: "Announcement from viewer23: hello both chats"},
		{name: "an unknown future type", noticeType: "watch_streak", object: `{"streak":7}`,
			system: "viewer23 watched 7 consecutive streams!", wantActor: viewer,
			want:        Notice{Type: "system_message"},
			wantSummary: "viewer23 watched 7 consecutive streams!"},
		{name: "a known type whose object does not match", noticeType: "sub", object: `{"sub_tier":1000}`,
			system: "viewer23 subscribed at Tier 1.", wantActor: viewer,
			want: Notice{Type: "system_message"}, wantSummary: "viewer23 subscribed at Tier 1."},
		{name: "a known type whose object is null", noticeType: "raid", system: "Raiders!", wantActor: viewer,
			want: Notice{Type: "system_message"}, wantSummary: "Raiders!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := chatEvent(t, tt.noticeType, tt.object, tt.system, tt.text, tt.source, tt.anonymous)
			msg := &Message{ID: "m1", SubscriptionType: "channel.chat.notification", Timestamp: testNow, Event: raw}
			ev, err := Normalize(msg)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if ev.Actor != tt.wantActor {
				t.Errorf("Actor = %+v, want %+v", ev.Actor, tt.wantActor)
			}
			if ev.Summary != tt.wantSummary {
				t.Errorf("Summary = %q, want %q", ev.Summary, tt.wantSummary)
			}
			tt.want.System = tt.system
			if tt.want.Text == "" {
				tt.want.Text = strings.TrimSpace(tt.text)
			}
			got, _ := json.Marshal(ev.Notice)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("Notice =\n%s\nwant\n%s", got, want)
			}
			if string(ev.Raw) != string(raw) || !ev.Time.Equal(testNow) || ev.Type != "channel.chat.notification" {
				t.Errorf("raw/time/type = %s/%v/%s, want the event as received at the message time", ev.Raw, ev.Time, ev.Type)
			}
		})
	}
}

func TestDecodeChatNotificationControlCharacters(t *testing.T) {
	raw := chatEvent(t, "sub", `{"sub_tier":"1000","is_prime":false,"duration_months":1}`, "a\nb", "line1\r\nline2\x00", "", false)
	_, n, sum, err := DecodeChatNotification(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n.Text != "line1  line2" || n.System != "a b" || strings.ContainsAny(sum, "\r\n\x00") {
		t.Fatalf("text %q, system %q, summary %q: control characters must become spaces", n.Text, n.System, sum)
	}
}

func TestDecodeChatNotificationNotAnObject(t *testing.T) {
	msg := &Message{ID: "m1", SubscriptionType: "channel.chat.notification", Event: json.RawMessage(`"sub"`)}
	if _, err := Normalize(msg); !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("err = %v, want ErrMalformedBody", err)
	}
}

func TestNormalizeRaid(t *testing.T) {
	raw := `{"from_broadcaster_user_id":"1234","from_broadcaster_user_login":"cool_user","from_broadcaster_user_name":"Cool_User","to_broadcaster_user_id":"1337","to_broadcaster_user_login":"cooler_user","to_broadcaster_user_name":"Cooler_User","viewers":9001}`
	ev, err := Normalize(&Message{ID: "m1", SubscriptionType: "channel.raid", Timestamp: testNow, Event: json.RawMessage(raw)})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Summary != "Cool_User raided with 9001 viewers" || ev.Actor != (Actor{"1234", "cool_user", "Cool_User"}) || ev.Viewers != 9001 || ev.Notice != nil {
		t.Fatalf("raid = %+v", ev)
	}
	one, _ := Normalize(&Message{ID: "m2", SubscriptionType: "channel.raid", Event: json.RawMessage(`{"from_broadcaster_user_login":"x","viewers":1}`)})
	if one.Summary != "x raided with 1 viewer" {
		t.Fatalf("summary = %q", one.Summary)
	}
}

func TestMoney(t *testing.T) {
	for _, tt := range []struct {
		v    int64
		d    int
		c    string
		want string
	}{{1050, 2, "USD", "10.50 USD"}, {5, 2, "EUR", "0.05 EUR"}, {500, 0, "JPY", "500 JPY"}, {7, 3, "", "0.007"}, {-150, 2, "USD", "-1.50 USD"},
		{-9223372036854775808, 2, "X", "-92233720368547758.08 X"}, {1, 99, "X", "1 X"}} {
		if got := money(tt.v, tt.d, tt.c); got != tt.want {
			t.Errorf("money(%d, %d, %q) = %q, want %q", tt.v, tt.d, tt.c, got, tt.want)
		}
	}
}
