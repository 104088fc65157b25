package securitytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// FuzzCallback drives the whole POST /callback/{session_id} handler of the real app (routing,
// middleware, verifier, parser, relay) with arbitrary session ids, headers and bodies, either
// correctly signed for that session (sign=true: the parser and relay are reached) or with the
// signature as given. It must never panic or fail with a 5xx, only ever answer what Twitch
// expects, and nothing unsigned may get past the signature check.
func FuzzCallback(f *testing.F) {
	h := apptest.Start(f, apptest.Options{})
	handler := h.App.Web.Handler()
	f.Add("0123456789abcdef0123456789abcdef", "notification", "m1", "", true, "sha256=", []byte(`{"subscription":{"id":"s","type":"channel.update","condition":{"broadcaster_user_id":"1"}},"event":{"title":"x"}}`))
	f.Add("0123456789abcdef0123456789abcdef", "webhook_callback_verification", "m2", "", true, "", []byte(`{"challenge":"abc","subscription":{"id":"s","type":"stream.online"}}`))
	f.Add("0123456789abcdef0123456789abcdef", "revocation", "m3", "", true, "", []byte(`{"subscription":{"id":"s","status":"user_removed","type":"user.update"}}`))
	f.Add("x", "notification", "m4", "2019-11-16T10:11:12.634234626Z", false, "sha256=zz", []byte(`{}`))
	f.Add("", "", "", "", false, "", []byte(nil))
	f.Add("..%2f", "notification", strings.Repeat("i", 300), "not a time", true, "", []byte(`[`))
	f.Fuzz(func(t *testing.T, sid, typ, id, ts string, sign bool, sig string, body []byte) {
		if ts == "" {
			ts = time.Now().UTC().Format(time.RFC3339Nano)
		}
		req := httptest.NewRequest(http.MethodPost, "/callback/x", strings.NewReader(string(body)))
		req.URL.Path, req.URL.RawPath = "/callback/"+sid, ""
		for k, v := range map[string]string{eventsub.HeaderMessageType: typ, eventsub.HeaderMessageID: id, eventsub.HeaderMessageTimestamp: ts} {
			req.Header[k] = []string{v}
		}
		if sign {
			sig = eventsub.Signature([]byte(secretOf(sid)), id, ts, body)
		}
		req.Header[eventsub.HeaderMessageSignature] = []string{sig}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		code := w.Code
		switch {
		case code >= 500:
			t.Fatalf("answered %d %q", code, w.Body.String())
		case code == http.StatusOK && w.Header().Get("Content-Type") != "text/plain":
			t.Fatalf("200 that is not a challenge answer: %q", w.Header().Get("Content-Type"))
		case code/100 == 2 && !sign && sig != eventsub.Signature([]byte(secretOf(sid)), id, ts, body):
			t.Fatalf("unsigned callback accepted with %d", code)
		case code != 200 && code != 204 && code != 400 && code != 403 && code != 404 && code != 405 && code != 413:
			t.Fatalf("unexpected answer %d", code)
		}
	})
}
