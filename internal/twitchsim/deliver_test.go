package twitchsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// The signature test vector of docs/TWITCH.md §4.2, through the function the simulator signs with.
func TestSignatureVector(t *testing.T) {
	body := `{"subscription":{"id":"ae2ff348-e102-16be-a3eb-6830c1bf38d2","status":"enabled","type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"44429626"},"transport":{"method":"webhook","callback":"null"},"created_at":"2021-02-19T23:47:00.7621315Z"},"event":{"user_id":"28408015","user_login":"testFromUser","user_name":"testFromUser","broadcaster_user_id":"44429626","broadcaster_user_login":"44429626","broadcaster_user_name":"testBroadcaster"}}`
	got := eventsub.Signature([]byte("secretabcd"), "ae2ff348-e102-16be-a3eb-6830c1bf38d2", "2021-02-19T23:47:00.8091512Z", []byte(body))
	if want := "sha256=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1d59a78823"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// deliveryEnv has one enabled subscription per type for the given users, on one receiver.
func deliveryEnv(t *testing.T, mod func(*Config), answer answerFunc) (*env, *receiver, map[string]eventsub.Subscription) {
	e := newEnv(t, mod)
	rc := newReceiver(t, testSecret, nil)
	app := e.appToken()
	e.userToken("pixelpaladin", "moderator:read:followers")
	subs := map[string]eventsub.Subscription{}
	b := eventsub.Condition{"broadcaster_user_id": "100001"}
	for _, typ := range []string{eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate} {
		subs[typ] = e.subscribe(app, typ, b, rc.url(), testSecret)
	}
	subs[eventsub.TypeChannelFollow] = e.subscribe(app, eventsub.TypeChannelFollow,
		eventsub.Condition{"broadcaster_user_id": "100001", "moderator_user_id": "100001"}, rc.url(), testSecret)
	subs[eventsub.TypeUserUpdate] = e.subscribe(app, eventsub.TypeUserUpdate, eventsub.Condition{"user_id": "100001"}, rc.url(), testSecret)
	for typ, s := range subs {
		if s.Status != eventsub.StatusEnabled {
			t.Fatalf("%s: %s", typ, s.Status)
		}
	}
	if answer != nil {
		rc.setAnswer(answer)
	}
	return e, rc, subs
}

func TestNotificationsPerType(t *testing.T) {
	e, rc, subs := deliveryEnv(t, nil, nil)
	ctx := context.Background()
	tests := []struct {
		typ     string
		trigger func() ([]Delivery, error)
		want    map[string]any // event fields that must have these values
		present []string       // event fields that must exist
	}{
		{eventsub.TypeChannelFollow, func() ([]Delivery, error) { return e.sim.Follow(ctx, "quietquinn", "pixelpaladin") },
			map[string]any{"user_id": "200005", "user_login": "quietquinn", "user_name": "QuietQuinn",
				"broadcaster_user_id": "100001", "broadcaster_user_login": "pixelpaladin", "broadcaster_user_name": "PixelPaladin"},
			[]string{"followed_at"}},
		{eventsub.TypeStreamOffline, func() ([]Delivery, error) { return e.sim.EndStream(ctx, "pixelpaladin") },
			map[string]any{"broadcaster_user_id": "100001", "broadcaster_user_login": "pixelpaladin"}, []string{"id"}},
		{eventsub.TypeStreamOnline, func() ([]Delivery, error) { return e.sim.GoLive(ctx, "pixelpaladin", "Back again", "Art") },
			map[string]any{"broadcaster_user_id": "100001", "type": "live"}, []string{"id", "started_at", "broadcaster_user_name"}},
		{eventsub.TypeChannelUpdate, func() ([]Delivery, error) {
			return e.sim.UpdateChannel(ctx, "pixelpaladin", "New title", "Music")
		}, map[string]any{"title": "New title", "category_name": "Music", "category_id": "26936", "language": "en"},
			[]string{"content_classification_labels", "broadcaster_user_login"}},
		{eventsub.TypeUserUpdate, func() ([]Delivery, error) { return e.sim.UpdateUser(ctx, "pixelpaladin", "New bio") },
			map[string]any{"user_id": "100001", "user_login": "pixelpaladin", "user_name": "PixelPaladin",
				"description": "New bio", "email": "", "email_verified": false}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			before := len(rc.messages(eventsub.MessageTypeNotification))
			ds, err := tt.trigger()
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Err != nil || ds[0].Status != 204 || ds[0].Attempts != 1 ||
				ds[0].SubscriptionID != subs[tt.typ].ID || ds[0].MessageType != eventsub.MessageTypeNotification {
				t.Fatalf("deliveries %+v", ds)
			}
			msgs := rc.messages(eventsub.MessageTypeNotification)[before:]
			if len(msgs) != 1 {
				t.Fatalf("%d notifications arrived, want 1", len(msgs))
			}
			m := msgs[0]
			if !m.validSig || m.id != ds[0].MessageID || m.retry != "0" || m.subType != tt.typ || m.subVersion != eventsub.Version(tt.typ) {
				t.Fatalf("headers: %+v", m)
			}
			sub, event, _ := m.payload(t)
			if sub.ID != subs[tt.typ].ID || sub.Status != eventsub.StatusEnabled || sub.Transport.Secret != "" {
				t.Fatalf("subscription in payload %+v", sub)
			}
			for k, v := range tt.want {
				if event[k] != v {
					t.Errorf("event[%s] = %#v, want %#v", k, event[k], v)
				}
			}
			for _, k := range tt.present {
				if _, ok := event[k]; !ok {
					t.Errorf("event lacks %s: %v", k, event)
				}
			}
		})
	}
	// World consistency: nothing is delivered for an impossible change.
	if _, err := e.sim.GoLive(ctx, "pixelpaladin", "", ""); !errors.Is(err, ErrAlreadyLive) {
		t.Fatalf("GoLive twice: %v", err)
	}
	if _, err := e.sim.EndStream(ctx, "cozycrafter"); !errors.Is(err, ErrNotLive) {
		t.Fatalf("EndStream offline: %v", err)
	}
	if _, err := e.sim.Follow(ctx, "quietquinn", "pixelpaladin"); !errors.Is(err, ErrAlreadyFollowing) {
		t.Fatalf("Follow twice: %v", err)
	}
	if _, err := e.sim.Follow(ctx, "nobody_here", "pixelpaladin"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown follower: %v", err)
	}
	// Events for other channels reach nobody.
	if ds, err := e.sim.UpdateChannel(ctx, "cozycrafter", "x", ""); err != nil || len(ds) != 0 {
		t.Fatalf("other channel: %v %v", ds, err)
	}
}

// The signature checks out with an independent HMAC over id, timestamp and raw body.
func TestNotificationSignatureIndependent(t *testing.T) {
	e, rc, _ := deliveryEnv(t, nil, nil)
	if _, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "hi"); err != nil {
		t.Fatal(err)
	}
	m := rc.messages(eventsub.MessageTypeNotification)[0]
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(m.id + m.timestamp))
	mac.Write(m.body)
	if !m.validSig || !eventsub.ValidSignature([]byte(testSecret), m.id, m.timestamp, m.body, "sha256="+hex.EncodeToString(mac.Sum(nil))) {
		t.Fatal("signature does not match HMAC-SHA256(secret, id||timestamp||body)")
	}
	if eventsub.ValidSignature([]byte("another-secret"), m.id, m.timestamp, m.body, "sha256="+hex.EncodeToString(mac.Sum(nil))) {
		t.Fatal("signature valid under another secret")
	}
}

func TestUserUpdateEmailNeedsScope(t *testing.T) {
	e, rc, _ := deliveryEnv(t, nil, nil)
	e.userToken("pixelpaladin", "user:read:email")
	if _, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "bio"); err != nil {
		t.Fatal(err)
	}
	_, event, _ := rc.messages(eventsub.MessageTypeNotification)[0].payload(t)
	if event["email"] != "pixelpaladin@example.com" || event["email_verified"] != true {
		t.Fatalf("event %v: want the email once user:read:email is granted", event)
	}
}

func TestRetrySameMessageID(t *testing.T) {
	failures := 2
	e, rc, _ := deliveryEnv(t, func(c *Config) { c.DeliveryRetries = 3 }, nil)
	rc.setAnswer(func(m received, ch string) (int, string, string) {
		if m.typ == eventsub.MessageTypeNotification && m.retry != "2" {
			return 500, "", ""
		}
		return 204, "", ""
	})
	ds, err := e.sim.UpdateChannel(context.Background(), "pixelpaladin", "retry me", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Err != nil || ds[0].Attempts != failures+1 || ds[0].Status != 204 {
		t.Fatalf("delivery %+v, want success on attempt 3", ds)
	}
	msgs := rc.messages(eventsub.MessageTypeNotification)
	var retries []string
	for _, m := range msgs {
		if m.id != ds[0].MessageID || !m.validSig {
			t.Fatalf("retry with id %s (valid signature %v), want %s", m.id, m.validSig, ds[0].MessageID)
		}
		retries = append(retries, m.retry)
	}
	if !slices.Equal(retries, []string{"0", "1", "2"}) {
		t.Fatalf("Message-Retry headers %v, want [0 1 2]", retries)
	}
}

func TestFailuresExceededRevokes(t *testing.T) {
	e, rc, subs := deliveryEnv(t, func(c *Config) { c.DeliveryRetries = 1; c.MaxNotificationFailures = 2 },
		func(m received, ch string) (int, string, string) {
			if m.typ == eventsub.MessageTypeRevocation {
				return 204, "", ""
			}
			return 503, "", ""
		})
	ctx := context.Background()
	ds, _ := e.sim.UpdateUser(ctx, "pixelpaladin", "one")
	if len(ds) != 1 || ds[0].Err == nil || ds[0].Attempts != 2 || ds[0].Status != 503 {
		t.Fatalf("first failure: %+v", ds)
	}
	ds, _ = e.sim.UpdateUser(ctx, "pixelpaladin", "two")
	if len(ds) != 2 || ds[1].MessageType != eventsub.MessageTypeRevocation || ds[1].Err != nil {
		t.Fatalf("second failure: %+v, want the notification and a revocation", ds)
	}
	revs := rc.messages(eventsub.MessageTypeRevocation)
	if len(revs) != 1 || !revs[0].validSig {
		t.Fatalf("%d revocations", len(revs))
	}
	sub, event, _ := revs[0].payload(t)
	if sub.ID != subs[eventsub.TypeUserUpdate].ID || sub.Status != eventsub.StatusNotificationFailuresExceeded || event != nil {
		t.Fatalf("revocation %s", revs[0].body)
	}
	if got := findSub(e.sim, sub.ID).Status; got != eventsub.StatusNotificationFailuresExceeded {
		t.Fatalf("status %s", got)
	}
	if ds, _ = e.sim.UpdateUser(ctx, "pixelpaladin", "three"); len(ds) != 0 {
		t.Fatalf("delivered to a revoked subscription: %+v", ds)
	}
}

func findSub(s *Sim, id string) eventsub.Subscription {
	for _, sub := range s.Subscriptions() {
		if sub.ID == id {
			return sub
		}
	}
	return eventsub.Subscription{}
}

// A success between failures resets the count: only failures in a row revoke.
func TestFailuresMustBeConsecutive(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	e, rc, subs := deliveryEnv(t, func(c *Config) { c.DeliveryRetries = -1; c.MaxNotificationFailures = 2 }, nil)
	rc.setAnswer(func(m received, ch string) (int, string, string) {
		if fail.Load() {
			return 500, "", ""
		}
		return 204, "", ""
	})
	ctx := context.Background()
	e.sim.UpdateUser(ctx, "pixelpaladin", "a") // fails
	fail.Store(false)
	e.sim.UpdateUser(ctx, "pixelpaladin", "b") // succeeds
	fail.Store(true)
	e.sim.UpdateUser(ctx, "pixelpaladin", "c") // fails
	if got := findSub(e.sim, subs[eventsub.TypeUserUpdate].ID).Status; got != eventsub.StatusEnabled {
		t.Fatalf("status %s after non-consecutive failures, want enabled", got)
	}
}

func TestDuplicateDeliveryAndSkew(t *testing.T) {
	e, rc, _ := deliveryEnv(t, nil, nil)
	skew := -15 * time.Minute
	e.sim.SetMisbehavior(Misbehavior{DuplicateDelivery: true, TimestampSkew: skew})
	ds, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "dup")
	if err != nil || len(ds) != 2 || ds[0].MessageID != ds[1].MessageID {
		t.Fatalf("deliveries %+v %v, want two with one message id", ds, err)
	}
	msgs := rc.messages(eventsub.MessageTypeNotification)
	if len(msgs) != 2 || msgs[0].id != msgs[1].id || !msgs[0].validSig || !msgs[1].validSig {
		t.Fatalf("received %d notifications", len(msgs))
	}
	ts, err := time.Parse(time.RFC3339Nano, msgs[0].timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Equal(e.clock.Now().Add(skew)) {
		t.Fatalf("timestamp %s, want now%s", ts, skew)
	}
	e.sim.SetMisbehavior(Misbehavior{})
	if ds, _ := e.sim.UpdateUser(context.Background(), "pixelpaladin", "once"); len(ds) != 1 {
		t.Fatalf("after switching misbehavior off: %d deliveries", len(ds))
	}
}
