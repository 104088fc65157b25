package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

func newVerifier() *Verifier {
	return &Verifier{
		ServerSecret: testServerSecret,
		Dedupe:       store.NewMemoryDedupe(store.MemoryDedupeConfig{TTL: DedupeTTL, Now: func() time.Time { return testNow }}),
		Now:          func() time.Time { return testNow },
	}
}

func TestSecret(t *testing.T) {
	a := Secret(testServerSecret, "session-a")
	if len(a) != 64 {
		t.Fatalf("len(Secret) = %d, want 64 (Twitch accepts 10..100)", len(a))
	}
	if a != Secret(testServerSecret, "session-a") {
		t.Fatal("Secret is not deterministic")
	}
	if a == Secret(testServerSecret, "session-b") {
		t.Fatal("two sessions share a secret")
	}
	if a == Secret([]byte("another server secret"), "session-a") {
		t.Fatal("the secret does not depend on the server secret")
	}
}

func TestVerifyAccepts(t *testing.T) {
	v := newVerifier()
	r := signed{body: followBody, subType: eventsub.TypeChannelFollow}.request(t, "sess")
	msg, err := v.Verify(r, "sess")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if msg.ID != "msg-1" || msg.Type != eventsub.MessageTypeNotification || !msg.Timestamp.Equal(testNow) {
		t.Errorf("headers: got %+v", msg)
	}
	if msg.Subscription.ID != "sub-1" || msg.SubscriptionType != "channel.follow" || msg.SubscriptionVersion != "2" {
		t.Errorf("subscription: got id %q type %q version %q", msg.Subscription.ID, msg.SubscriptionType, msg.SubscriptionVersion)
	}
	if !strings.Contains(string(msg.Event), `"cool_user"`) {
		t.Errorf("event = %s, want the raw event", msg.Event)
	}

	challenge := `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"sub-2","status":"webhook_callback_verification_pending","type":"stream.online","version":"1"}}`
	msg, err = v.Verify(signed{id: "msg-2", typ: eventsub.MessageTypeVerification, body: challenge}.request(t, "sess"), "sess")
	if err != nil {
		t.Fatalf("Verify challenge: %v", err)
	}
	if msg.Challenge != "pogchamp-kappa-360noscope-vohiyo" || msg.SubscriptionType != "stream.online" {
		t.Errorf("challenge: got %q type %q", msg.Challenge, msg.SubscriptionType)
	}
}

// TestVerifyRejects: every bad input, the error it gives and the status a receiver answers.
func TestVerifyRejects(t *testing.T) {
	tests := []struct {
		name       string
		req        func(t *testing.T) *http.Request
		want       error
		wantStatus int
	}{
		{"forged signature", func(t *testing.T) *http.Request {
			return signed{body: followBody, sig: "sha256=" + strings.Repeat("ab", 32)}.request(t, "sess")
		}, ErrBadSignature, 403},
		{"another session's secret", func(t *testing.T) *http.Request {
			return signed{body: followBody, secret: Secret(testServerSecret, "other")}.request(t, "sess")
		}, ErrBadSignature, 403},
		{"body altered after signing", func(t *testing.T) *http.Request {
			r := signed{body: followBody}.request(t, "sess")
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(followBody, "Cool_User", "Evil_User", 1)))
			return r
		}, ErrBadSignature, 403},
		{"stale timestamp", func(t *testing.T) *http.Request {
			return signed{body: followBody, ts: testNow.Add(-11 * time.Minute).Format(time.RFC3339Nano)}.request(t, "sess")
		}, ErrStale, 403},
		{"future timestamp", func(t *testing.T) *http.Request {
			return signed{body: followBody, ts: testNow.Add(11 * time.Minute).Format(time.RFC3339Nano)}.request(t, "sess")
		}, ErrStale, 403},
		{"missing signature", func(t *testing.T) *http.Request {
			r := signed{body: followBody}.request(t, "sess")
			r.Header.Del(eventsub.HeaderMessageSignature)
			return r
		}, ErrMissingHeader, 400},
		{"missing message id", func(t *testing.T) *http.Request {
			r := signed{body: followBody}.request(t, "sess")
			r.Header.Del(eventsub.HeaderMessageID)
			return r
		}, ErrMissingHeader, 400},
		{"signature not hex", func(t *testing.T) *http.Request {
			return signed{body: followBody, sig: "sha256=zz"}.request(t, "sess")
		}, ErrMalformed, 400},
		{"signature uppercase", func(t *testing.T) *http.Request {
			r := signed{body: followBody}.request(t, "sess")
			r.Header.Set(eventsub.HeaderMessageSignature, strings.ToUpper(r.Header.Get(eventsub.HeaderMessageSignature)))
			return r
		}, ErrMalformed, 400},
		{"timestamp not RFC 3339", func(t *testing.T) *http.Request {
			return signed{body: followBody, ts: "yesterday"}.request(t, "sess")
		}, ErrMalformed, 400},
		{"oversized body with length", func(t *testing.T) *http.Request {
			return signed{body: `{"x":"` + strings.Repeat("a", DefaultMaxBody) + `"}`}.request(t, "sess")
		}, ErrTooLarge, 413},
		{"oversized body without length", func(t *testing.T) *http.Request {
			r := signed{body: `{"x":"` + strings.Repeat("a", DefaultMaxBody) + `"}`}.request(t, "sess")
			r.ContentLength = -1
			return r
		}, ErrTooLarge, 413},
		{"malformed JSON, valid signature", func(t *testing.T) *http.Request {
			return signed{id: "m-json", body: `{"subscription":`}.request(t, "sess")
		}, ErrMalformedBody, 204},
		{"challenge without challenge", func(t *testing.T) *http.Request {
			return signed{id: "m-chal", typ: eventsub.MessageTypeVerification, body: `{"subscription":{"id":"s"}}`}.request(t, "sess")
		}, ErrMalformedBody, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier().Verify(tt.req(t), "sess")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if got := StatusCode(err); got != tt.wantStatus {
				t.Errorf("StatusCode = %d, want %d", got, tt.wantStatus)
			}
		})
	}
}

// The window is checked on the header before the body is read: a stale or future message
// costs no read, whatever it announces. The answer is the bad signature's (403, same body), and
// neither depends on the session, so an attacker learns nothing about it.
func TestVerifyWindowBeforeBody(t *testing.T) {
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		r := signed{body: followBody, secret: "not the secret", ts: testNow.Add(skew).Format(time.RFC3339Nano)}.request(t, "sess")
		body := &countingReader{}
		r.Body, r.ContentLength = body, DefaultMaxBody
		_, err := newVerifier().Verify(r, "sess")
		if !errors.Is(err, ErrStale) || StatusCode(err) != StatusCode(ErrBadSignature) {
			t.Errorf("skew %v: Verify = %v (status %d), want ErrStale answered like ErrBadSignature", skew, err, StatusCode(err))
		}
		if body.reads != 0 {
			t.Errorf("skew %v: the body was read %d times before the window was checked", skew, body.reads)
		}
	}
}

// countingReader counts reads and never ends.
type countingReader struct{ reads int }

func (c *countingReader) Read(p []byte) (int, error) { c.reads++; return 0, io.ErrNoProgress }
func (c *countingReader) Close() error               { return nil }

func TestVerifyDuplicateAndForget(t *testing.T) {
	v := newVerifier()
	ctx := context.Background()
	msg, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess")
	if err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second delivery = %v, want ErrDuplicate", err)
	}
	// The same message id for another session is that session's own message.
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess2"), "sess2"); err != nil {
		t.Fatalf("same id, other session: %v", err)
	}
	// Our handling failed: forget, and Twitch's retry is accepted once.
	if err := v.Forget(ctx, msg); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess"); err != nil {
		t.Fatalf("retry after Forget: %v", err)
	}
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second retry = %v, want ErrDuplicate", err)
	}
}

// A bad signature never marks the id: a forged copy cannot block Twitch's real message.
func TestVerifyForgeryDoesNotMark(t *testing.T) {
	v := newVerifier()
	if _, err := v.Verify(signed{body: followBody, secret: "forger's secret"}.request(t, "sess"), "sess"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess"); err != nil {
		t.Fatalf("real message after a forged one: %v", err)
	}
}

type failingDeduper struct{}

func (failingDeduper) Seen(context.Context, string) (bool, error) {
	return false, errors.New("connection refused")
}
func (failingDeduper) Forget(context.Context, string) error { return errors.New("connection refused") }

func TestVerifyDedupeErrorFailsClosed(t *testing.T) {
	v := newVerifier()
	v.Dedupe = failingDeduper{}
	msg, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess")
	if !errors.Is(err, ErrDedupe) {
		t.Fatalf("Verify = %v, want ErrDedupe", err)
	}
	if got := StatusCode(err); got != http.StatusServiceUnavailable {
		t.Errorf("StatusCode = %d, want 503 so Twitch retries", got)
	}
	if msg == nil || msg.ID != "msg-1" {
		t.Errorf("message for logging = %+v, want id msg-1", msg)
	}
}

func TestVerifyOverRealHTTP(t *testing.T) {
	v := newVerifier()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := v.Verify(r, "sess")
		w.WriteHeader(StatusCode(err))
	}))
	defer srv.Close()
	big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	r := signed{body: big}.request(t, "sess")
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(big))
	req.Header = r.Header
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", resp.StatusCode)
	}
}

func BenchmarkVerify(b *testing.B) {
	v := &Verifier{ServerSecret: testServerSecret, Now: func() time.Time { return testNow }}
	r := signed{body: followBody, subType: eventsub.TypeChannelFollow}.request(b, "sess")
	body := followBody
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r.Body = io.NopCloser(strings.NewReader(body))
		if _, err := v.Verify(r, "sess"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyIdempotentNotifications: with IdempotentNotifications a notification is never
// marked (its resend is no duplicate here: the broker stores it once), while a revocation and
// a challenge are marked as before, and a failing dedupe still fails them closed.
func TestVerifyIdempotentNotifications(t *testing.T) {
	v := newVerifier()
	v.IdempotentNotifications = true
	for i := range 2 {
		msg, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess")
		if err != nil || msg.Duplicate {
			t.Fatalf("notification, delivery %d: %v (duplicate %v), want accepted", i+1, err, msg != nil && msg.Duplicate)
		}
	}
	rev := `{"subscription":{"id":"sub-1","status":"authorization_revoked","type":"channel.follow","version":"2"}}`
	if _, err := v.Verify(signed{id: "rev-1", typ: eventsub.MessageTypeRevocation, body: rev}.request(t, "sess"), "sess"); err != nil {
		t.Fatalf("revocation: %v", err)
	}
	if _, err := v.Verify(signed{id: "rev-1", typ: eventsub.MessageTypeRevocation, body: rev}.request(t, "sess"), "sess"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("revocation resent: %v, want ErrDuplicate", err)
	}
	v.Dedupe = failingDeduper{}
	if _, err := v.Verify(signed{body: followBody}.request(t, "sess"), "sess"); err != nil {
		t.Fatalf("notification with the dedupe down: %v, want accepted (not looked up)", err)
	}
	if _, err := v.Verify(signed{id: "rev-2", typ: eventsub.MessageTypeRevocation, body: rev}.request(t, "sess"), "sess"); !errors.Is(err, ErrDedupe) {
		t.Fatalf("revocation with the dedupe down: %v, want ErrDedupe", err)
	}
}
