package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// validSignature is a faster eventsub.ValidSignature(Secret(...)): they must always agree,
// also when the server secret changes between calls.
func TestValidSignatureAgreesWithEventsub(t *testing.T) {
	v := &Verifier{ServerSecret: testServerSecret}
	body := []byte(`{"subscription":{},"event":{}}`)
	for _, secret := range [][]byte{testServerSecret, []byte("another-server-secret-0123456789"),
		[]byte(strings.Repeat("a server secret longer than one SHA-256 block, ", 3)), {}} {
		v.ServerSecret = secret
		for _, sid := range []string{"a", "session-b", ""} {
			var got [64]byte
			v.sessionSecret(v.scratch(), sid, &got)
			if want := Secret(secret, sid); string(got[:]) != want {
				t.Fatalf("secret of %q = %s, want %s", sid, got, want)
			}
			good := eventsub.Signature([]byte(Secret(secret, sid)), "id-1", "2026-01-02T15:04:05Z", body)
			if !v.validSignature(v.scratch(), sid, "id-1", "2026-01-02T15:04:05Z", body, good) {
				t.Errorf("session %q: Twitch's signature refused", sid)
			}
			bad := eventsub.Signature([]byte(Secret(secret, sid+"x")), "id-1", "2026-01-02T15:04:05Z", body)
			if v.validSignature(v.scratch(), sid, "id-1", "2026-01-02T15:04:05Z", body, bad) {
				t.Errorf("session %q: another session's signature accepted", sid)
			}
		}
	}
}

// Verify reads bodies into pooled buffers: what a verified message keeps must be its own, not
// the buffer the next callback is read into.
func TestVerifiedMessageOutlivesItsBuffer(t *testing.T) {
	v := &Verifier{ServerSecret: testServerSecret, Now: func() time.Time { return testNow }}
	first, err := v.Verify(signed{id: "m-1", body: followBody, subType: eventsub.TypeChannelFollow}.request(t, "sess"), "sess")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := bytes.Clone(first.Event)
	other := strings.ReplaceAll(followBody, "cool_user", "xxxx_xxxx")
	for i := range 20 { // the pool may hand out another buffer; several calls reach the same one
		if _, err := v.Verify(signed{id: fmt.Sprint("m-", i+2), body: other, subType: eventsub.TypeChannelFollow}.request(t, "sess"), "sess"); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if !bytes.Equal(first.Event, want) || first.Subscription.ID != "sub-1" || !bytes.Contains(first.Event, []byte("cool_user")) {
		t.Fatalf("the first message changed under a later Verify: event %s, subscription %q", first.Event, first.Subscription.ID)
	}
}

// parseHeaders looks the headers up by these names as they are: net/http stores received
// headers under their canonical names, so the names must be canonical.
func TestHeaderNamesAreCanonical(t *testing.T) {
	for _, k := range []string{eventsub.HeaderMessageID, eventsub.HeaderMessageRetry, eventsub.HeaderMessageType,
		eventsub.HeaderMessageSignature, eventsub.HeaderMessageTimestamp, eventsub.HeaderSubscriptionType, eventsub.HeaderSubscriptionVersion} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header %q is not canonical (%q)", k, c)
		}
	}
}
