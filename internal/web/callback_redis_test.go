package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// TestRedisNotificationOneRoundTrip: in Redis mode a notification is not marked in the
// webhook dedupe (the broker's append is idempotent by message id), so its callback makes one
// round trip fewer; Twitch's resends of it (same id, signed again) are answered 204 and shown
// once, and a revocation is still marked.
func TestRedisNotificationOneRoundTrip(t *testing.T) {
	h := apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t)})
	_, s, sid := h.WatchSession(t, "modmaria", "pixelpaladin")
	h.WaitSettled(t)
	rdb := redistest.Client(t)
	sub := h.Subscription(t, sid, eventsub.TypeChannelUpdate)
	note := apptest.Callback{ID: "m-once-" + sid[:8], Body: apptest.ChannelUpdateBody(sub, "sent three times")}
	for retry := range 3 {
		note.Retry, note.At = retry, time.Now()
		if a := apptest.Do(t, apptest.SignedCallback(h.CallbackURL(sid), apptest.WebhookSecret(sid), note)); a.Status != http.StatusNoContent {
			t.Fatalf("notification, delivery %d: %d, want 204", retry+1, a.Status)
		}
	}
	var titles []string
	for _, f := range shownBefore(t, h, s, "pixelpaladin", "marker") {
		if f.Type == "event_updated" && f.Event != nil {
			titles = append(titles, f.Event.Title)
		}
	}
	if fmt.Sprint(titles) != fmt.Sprint([]string{"sent three times"}) {
		t.Errorf("shown before the marker: %q, want the notification once", titles)
	}
	if keys := rdb.Keys(t.Context(), "*dedupe:"+sid+":"+note.ID).Val(); len(keys) != 0 {
		t.Errorf("the notification was marked in the webhook dedupe (%q): a round trip the broker makes unnecessary", keys)
	}
	msgKey := redisKey(t, rdb, "*ev:msg:"+sid+":"+note.ID)
	if ttl := rdb.PTTL(t.Context(), msgKey).Val(); ttl < 10*time.Minute {
		t.Errorf("the broker remembers the message id for %v, less than Twitch's 10-minute window", ttl)
	}

	// A revocation is still marked: its resend is a duplicate.
	sub.Status = eventsub.StatusUserRemoved
	body, _ := json.Marshal(map[string]any{"subscription": sub})
	rev := apptest.Callback{Type: eventsub.MessageTypeRevocation, ID: "m-rev-" + sid[:8], Body: body}
	for retry := range 2 {
		rev.Retry, rev.At = retry, time.Now()
		if a := apptest.Do(t, apptest.SignedCallback(h.CallbackURL(sid), apptest.WebhookSecret(sid), rev)); a.Status != http.StatusNoContent {
			t.Fatalf("revocation, delivery %d: %d, want 204", retry+1, a.Status)
		}
	}
	redisKey(t, rdb, "*dedupe:"+sid+":"+rev.ID)
	apptest.Wait(t, 5*time.Second, "two log lines of the revocation", func() bool { return len(outcomesOf(t, h, rev.ID)) >= 2 })
	if got := outcomesOf(t, h, rev.ID); fmt.Sprint(got) != fmt.Sprint([]string{"revoked", "duplicate"}) {
		t.Errorf("the revocation's outcomes: %q, want revoked then duplicate", got)
	}
}
