package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// docs/TWITCH.md §4.2's test vector body.
const vectorBody = `{"subscription":{"id":"ae2ff348-e102-16be-a3eb-6830c1bf38d2","status":"enabled","type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"44429626"},"transport":{"method":"webhook","callback":"null"},"created_at":"2021-02-19T23:47:00.7621315Z"},"event":{"user_id":"28408015","user_login":"testFromUser","user_name":"testFromUser","broadcaster_user_id":"44429626","broadcaster_user_login":"44429626","broadcaster_user_name":"testBroadcaster"}}`

// FuzzVerify: random headers and bodies never panic; when sign is set the message is signed
// correctly with a fresh timestamp, so the body reaches the JSON parser and Normalize.
func FuzzVerify(f *testing.F) {
	ts := testNow.Format(time.RFC3339Nano)
	f.Add("ae2ff348-e102-16be-a3eb-6830c1bf38d2", "notification", ts, "", "channel.follow", []byte(vectorBody), true)
	f.Add("id", "webhook_callback_verification", ts, "", "", []byte(`{"challenge":"x","subscription":{"id":"s"}}`), true)
	f.Add("id", "revocation", ts, "", "", []byte(`{"subscription":{"id":"s","status":"authorization_revoked"}}`), true)
	f.Add("id", "notification", ts, "", "stream.online", []byte(`{"subscription":{"id":"s"},"event":null}`), true)
	f.Add("id", "notification", ts, "", "user.update", []byte(`{"subscription":{"id":"s"},"event":{"email":1}}`), true)
	f.Add("id", "notification", "2021-02-19T23:47:00.8091512Z", "sha256=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1d59a78823", "", []byte(vectorBody), false)
	f.Add("", "", "", "", "", []byte(nil), false)
	f.Add("id", "x", "not a time", "sha256=", "", []byte("{"), false)
	v := &Verifier{ServerSecret: testServerSecret, Now: func() time.Time { return testNow }, MaxBody: 4096}
	f.Fuzz(func(t *testing.T, id, typ, stamp, sig, subType string, body []byte, sign bool) {
		if sign {
			stamp = ts
			sig = eventsub.Signature([]byte(Secret(testServerSecret, "sess")), id, stamp, body)
		}
		r := httptest.NewRequest(http.MethodPost, "/callback/sess", bytes.NewReader(body))
		for k, val := range map[string]string{
			eventsub.HeaderMessageID: id, eventsub.HeaderMessageType: typ, eventsub.HeaderMessageTimestamp: stamp,
			eventsub.HeaderMessageSignature: sig, eventsub.HeaderSubscriptionType: subType,
		} {
			r.Header[k] = []string{val}
		}
		msg, err := v.Verify(r, "sess")
		if err == nil && msg.Type == eventsub.MessageTypeNotification {
			_, _ = Normalize(msg)
		}
		if sign && err == nil && msg == nil {
			t.Fatal("nil message without error")
		}
		_ = StatusCode(err)
	})
}

// FuzzChatNotification: any bytes given to the chat notification decoder either fail as not
// a JSON object or give a notice of a known type with a non-empty one-line summary, whose
// strings hold no control characters and which encodes to JSON.
func FuzzChatNotification(f *testing.F) {
	seeds := []string{
		`{"chatter_user_name":"a","notice_type":"sub","system_message":"x","sub":{"sub_tier":"1000","is_prime":false,"duration_months":1}}`,
		`{"chatter_is_anonymous":true,"notice_type":"community_sub_gift","community_sub_gift":{"id":"1","total":50,"sub_tier":"3000","cumulative_total":null}}`,
		`{"notice_type":"shared_chat_resub","source_broadcaster_user_id":"1","shared_chat_resub":{"cumulative_months":2,"streak_months":null,"is_gift":true,"gifter_is_anonymous":false,"gifter_user_name":"g"}}`,
		`{"notice_type":"charity_donation","charity_donation":{"charity_name":"c","amount":{"value":-9223372036854775808,"decimal_places":-1,"currency":"\u0000"}}}`,
		`{"notice_type":"announcement","message":{"text":"<b>x</b>","fragments":[{"type":"emote","text":"Kappa"}]},"announcement":{"color":"BLUE"}}`,
		`{"notice_type":"raid","raid":null}`, `{"notice_type":"sub_gift","sub_gift":{}}`, `{"notice_type":"new_thing"}`, `null`, `[]`, `{`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		actor, n, sum, err := DecodeChatNotification(raw)
		if err != nil {
			return
		}
		if n.Type != NoticeSystemMessage && !known(n.Type) {
			t.Fatalf("notice type %q is neither known nor system_message", n.Type)
		}
		if n.Type != NoticeSystemMessage && sum == "" {
			t.Fatalf("empty summary for %+v", n)
		}
		b, jerr := json.Marshal(struct {
			A Actor
			N Notice
		}{actor, n})
		if jerr != nil {
			t.Fatalf("marshal: %v", jerr)
		}
		for _, s := range []string{sum, n.Text, n.System, n.Tier, n.Color, n.Charity, n.Amount, n.GiftID, actor.Name} {
			if strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s) {
				t.Fatalf("%q has a control character or invalid UTF-8 (notice %s)", s, b)
			}
		}
	})
}
