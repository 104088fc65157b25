package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

var (
	testServerSecret = []byte("test server secret, 32 bytes ok!")
	testNow          = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// signed builds a callback request as Twitch would send it for a session.
type signed struct {
	id, typ, ts, subType string
	body                 string
	secret               string // default: the session's derived secret
	sig                  string // overrides the computed signature
}

func (s signed) request(t testing.TB, sessionID string) *http.Request {
	t.Helper()
	if s.id == "" {
		s.id = "msg-1"
	}
	if s.typ == "" {
		s.typ = eventsub.MessageTypeNotification
	}
	if s.ts == "" {
		s.ts = testNow.Format(time.RFC3339Nano)
	}
	if s.secret == "" {
		s.secret = Secret(testServerSecret, sessionID)
	}
	if s.sig == "" {
		s.sig = eventsub.Signature([]byte(s.secret), s.id, s.ts, []byte(s.body))
	}
	r := httptest.NewRequest(http.MethodPost, "/callback/"+sessionID, bytes.NewBufferString(s.body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(eventsub.HeaderMessageID, s.id)
	r.Header.Set(eventsub.HeaderMessageType, s.typ)
	r.Header.Set(eventsub.HeaderMessageTimestamp, s.ts)
	r.Header.Set(eventsub.HeaderMessageSignature, s.sig)
	r.Header.Set(eventsub.HeaderMessageRetry, strconv.Itoa(0))
	if s.subType != "" {
		r.Header.Set(eventsub.HeaderSubscriptionType, s.subType)
		r.Header.Set(eventsub.HeaderSubscriptionVersion, eventsub.Version(s.subType))
	}
	return r
}

const followBody = `{"subscription":{"id":"sub-1","type":"channel.follow","version":"2","status":"enabled","cost":0,` +
	`"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},` +
	`"transport":{"method":"webhook","callback":"https://example.com/callback/s"},"created_at":"2019-11-16T10:11:12.634234626Z"},` +
	`"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337",` +
	`"broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}`
