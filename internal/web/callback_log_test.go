package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Every callback writes one log line "webhook" with message_id, message_type, outcome,
// status and session (a short hash: never the session id, its webhook secret or the server
// secret), and twitchrelay_webhook_deliveries_total counts exactly the logged outcomes.
// (securitytest's TestNoSecretInLogsOrPages searches the whole log for the user's tokens.)
func TestCallbackLogLineAndMetric(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, _, sid := h.WatchSession(t, "pixelpaladin", "pixelpaladin") // every feed: one challenge each
	challenges := len(h.Subscriptions(sid))
	sub := h.Subscription(t, sid, eventsub.TypeChannelUpdate)
	stranger := "0123456789abcdef0123456789abcdef" // no such session
	stray := sub
	stray.ID = "5a6b7c8d-0000-4000-8000-000000000000"
	signed := func(sid string, c apptest.Callback) *http.Request {
		return apptest.SignedCallback(h.CallbackURL(sid), apptest.WebhookSecret(sid), c)
	}
	good := apptest.Callback{ID: "log-accepted", Body: apptest.ChannelUpdateBody(sub, "logged")}
	noSignature := signed(sid, apptest.Callback{ID: "log-no-signature", Body: good.Body})
	noSignature.Header.Del(eventsub.HeaderMessageSignature)
	calls := []struct {
		name    string
		sid     string
		req     *http.Request
		id      string // the logged message_id ("" where the headers were not read or not verified)
		status  int
		outcome string
	}{
		{"accepted", sid, signed(sid, good), good.ID, http.StatusNoContent, "accepted"},
		{"duplicate", sid, signed(sid, good), good.ID, http.StatusNoContent, "duplicate"},
		{"bad signature", sid, apptest.SignedCallback(h.CallbackURL(sid), "a guess", apptest.Callback{ID: "log-forged", Body: good.Body}),
			"", http.StatusForbidden, "bad_signature"}, // a forger's headers are not logged
		{"stale", sid, signed(sid, apptest.Callback{ID: "log-stale", Body: good.Body, At: time.Now().Add(-11 * time.Minute)}),
			"log-stale", http.StatusForbidden, "stale"},
		{"malformed body", sid, signed(sid, apptest.Callback{ID: "log-json", Body: []byte(`{"subscription":`)}),
			"log-json", http.StatusNoContent, "malformed_body"},
		{"unknown message type", sid, signed(sid, apptest.Callback{Type: "something_new", ID: "log-type", Body: []byte(`{}`)}),
			"log-type", http.StatusNoContent, "unknown_message_type"},
		{"too large", sid, signed(sid, apptest.Callback{ID: "log-big", Body: []byte(strings.Repeat("x", webhook.DefaultMaxBody+1))}),
			"", http.StatusRequestEntityTooLarge, "too_large"},
		{"no signature header", sid, noSignature, "", http.StatusBadRequest, "malformed_headers"},
		{"unknown session", stranger, signed(stranger, apptest.Callback{ID: "log-unknown", Body: apptest.ChannelUpdateBody(stray, "x")}),
			"log-unknown", http.StatusNoContent, "unknown_session"},
	}
	for _, c := range calls {
		if a := apptest.Do(t, c.req); a.Status != c.status {
			t.Errorf("%s: answered %d, want %d", c.name, a.Status, c.status)
		}
	}
	want := challenges + len(calls)
	apptest.Wait(t, 5*time.Second, "a log line per callback", func() bool { return len(webhookLines(t, h)) >= want })
	lines := webhookLines(t, h)
	if len(lines) != want {
		t.Errorf("%d webhook log lines, want %d (%d challenges + %d callbacks)", len(lines), want, challenges, len(calls))
	}

	// Each line: the keys, the short hash of its session, nothing secret.
	secrets := map[string]string{"session id": sid, "webhook secret": apptest.WebhookSecret(sid), "server secret": apptest.ServerSecret,
		"unknown session's id": stranger, "unknown session's secret": apptest.WebhookSecret(stranger)}
	logged := map[string]int{} // type/outcome → lines
	for _, rec := range lines {
		line := fmt.Sprint(rec)
		for _, k := range []string{"message_id", "message_type", "event_type", "outcome", "status", "session"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("webhook log line without %s: %s", k, line)
			}
		}
		for name, secret := range secrets {
			if strings.Contains(line, secret) {
				t.Errorf("a webhook log line contains the %s: %s", name, line)
			}
		}
		logged[fmt.Sprint(rec["event_type"], "/", rec["outcome"])]++
	}
	var challenged int
	for _, rec := range lines {
		if rec["outcome"] == "challenge" {
			challenged++
			if rec["session"] != shortHash(sid) || rec["status"] != float64(http.StatusOK) || rec["message_type"] != eventsub.MessageTypeVerification {
				t.Errorf("challenge logged as %v, want session %s, status 200", rec, shortHash(sid))
			}
		}
	}
	if challenged != challenges {
		t.Errorf("%d challenges logged, want %d", challenged, challenges)
	}
	for i, c := range calls {
		var rec map[string]any
		for _, r := range lines {
			if r["message_id"] == c.id && r["outcome"] == c.outcome {
				rec = r
				break
			}
		}
		switch {
		case rec == nil:
			t.Errorf("call %d (%s): no log line with message_id %q and outcome %s", i, c.name, c.id, c.outcome)
		case rec["status"] != float64(c.status) || rec["session"] != shortHash(c.sid):
			t.Errorf("call %d (%s) logged status %v session %v, want %d %s", i, c.name, rec["status"], rec["session"], c.status, shortHash(c.sid))
		}
	}

	// The counter counts what was logged, outcome by outcome.
	var counted map[string]int
	defer func() {
		if !maps.Equal(counted, logged) {
			t.Errorf("twitchrelay_webhook_deliveries_total by type/outcome\n%v\nthe log lines\n%v", counted, logged)
		}
	}()
	apptest.Wait(t, 5*time.Second, "the webhook counter to count the logged outcomes", func() bool {
		counted = webhookCounter(t, scrape(t, h))
		return maps.Equal(counted, logged)
	})
}

var webhookSample = regexp.MustCompile(`^twitchrelay_webhook_deliveries_total\{outcome="([^"]*)",type="([^"]*)"\} (\d+)$`)

// webhookCounter returns the webhook counter's samples in a /metrics body, by type/outcome.
func webhookCounter(t *testing.T, body string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for line := range strings.Lines(body) {
		if m := webhookSample.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			n, err := strconv.Atoi(m[3])
			if err != nil {
				t.Fatalf("counter sample %q", line)
			}
			out[m[2]+"/"+m[1]] = n
		}
	}
	return out
}

// shortHash is how a session appears in logs: the first 4 bytes of its SHA-256, in hex.
func shortHash(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:4])
}
