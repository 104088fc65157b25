package webhook

import (
	"encoding/hex"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// validSignature is a faster eventsub.ValidSignature(Secret(...)): they must always agree,
// also when the server secret changes between calls.
func TestValidSignatureAgreesWithEventsub(t *testing.T) {
	v := &Verifier{ServerSecret: testServerSecret}
	body := []byte(`{"subscription":{},"event":{}}`)
	for _, secret := range [][]byte{testServerSecret, []byte("another-server-secret-0123456789")} {
		v.ServerSecret = secret
		for _, sid := range []string{"a", "session-b", ""} {
			if got, want := hex.EncodeToString(v.secretMAC(sid).Sum(nil)), Secret(secret, sid); got != want {
				t.Fatalf("secret of %q = %s, want %s", sid, got, want)
			}
			good := eventsub.Signature([]byte(Secret(secret, sid)), "id-1", "2026-01-02T15:04:05Z", body)
			if !v.validSignature(sid, "id-1", "2026-01-02T15:04:05Z", body, good) {
				t.Errorf("session %q: Twitch's signature refused", sid)
			}
			bad := eventsub.Signature([]byte(Secret(secret, sid+"x")), "id-1", "2026-01-02T15:04:05Z", body)
			if v.validSignature(sid, "id-1", "2026-01-02T15:04:05Z", body, bad) {
				t.Errorf("session %q: another session's signature accepted", sid)
			}
		}
	}
}
