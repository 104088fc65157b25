package eventsubws

import (
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// FuzzTwitchMessage feeds arbitrary frames, as Twitch's server would send them, through the
// client's decoding and de-duplication into the same normalisation a webhook gets: nothing
// may panic, and a message handed on always has an id and is a notification or revocation.
func FuzzTwitchMessage(f *testing.F) {
	f.Add([]byte(`{"metadata":{"message_id":"1","message_type":"notification","message_timestamp":"2026-11-27T10:11:12Z","subscription_type":"channel.update","subscription_version":"2"},"payload":{"subscription":{"id":"s","type":"channel.update","version":"2","condition":{"broadcaster_user_id":"1"}},"event":{"title":"t","broadcaster_user_login":"x"}}}`))
	f.Add([]byte(`{"metadata":{"message_id":"2","message_type":"revocation"},"payload":{"subscription":{"id":"s","status":"authorization_revoked"}}}`))
	f.Add([]byte(`{"metadata":{"message_type":"session_welcome"},"payload":{"session":{"id":"x","keepalive_timeout_seconds":null}}}`))
	f.Add([]byte(`{"payload":{"event":[1,2]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := New(Config{}, Handler{Message: func(m *webhook.Message) {
			if m.ID == "" || (m.Type != "notification" && m.Type != "revocation") {
				t.Fatalf("handed on a message without id, or neither notification nor revocation: %+v", m)
			}
			_, _ = webhook.Normalize(m)
		}})
		if m, err := decode(b); err == nil {
			c.deliver(m)
			c.deliver(m) // the second is a duplicate
		}
	})
}
