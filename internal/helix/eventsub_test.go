package helix_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// waitVerified waits (bounded) for the simulator to finish the challenge of id.
func waitVerified(t *testing.T, e *env, id string) eventsub.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.sim.WaitVerified(ctx, id)
	if err != nil {
		t.Fatalf("WaitVerified(%s): %v", id, err)
	}
	return s
}

func subIDs(subs []eventsub.Subscription) []string {
	var ids []string
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	return ids
}

// allFeeds are the subscriptions twitchrelay makes for streamer pixelpaladin (100001),
// watched by its moderator modmaria (200002), plus user.update for cozycrafter.
func allFeeds(cb *callbackServer) []eventsub.CreateRequest {
	return []eventsub.CreateRequest{
		cb.request(eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100001"}),
		cb.request(eventsub.TypeStreamOffline, eventsub.Condition{"broadcaster_user_id": "100001"}),
		cb.request(eventsub.TypeChannelUpdate, eventsub.Condition{"broadcaster_user_id": "100001"}),
		cb.request(eventsub.TypeChannelFollow, eventsub.Condition{"broadcaster_user_id": "100001", "moderator_user_id": "200002"}),
		cb.request(eventsub.TypeUserUpdate, eventsub.Condition{"user_id": "100002"}),
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := newEnv(t)
	cb := newCallbackServer(t)
	ctx := context.Background()
	// modmaria moderates pixelpaladin and granted moderator:read:followers (channel.follow).
	e.userToken(t, "modmaria", "moderator:read:followers")

	var created []eventsub.Subscription
	for _, req := range allFeeds(cb) {
		t.Run("create "+req.Type, func(t *testing.T) {
			s, err := e.client.CreateSubscription(ctx, req)
			if err != nil {
				t.Fatalf("CreateSubscription: %v", err)
			}
			if s.ID == "" || s.Type != req.Type || s.Version != req.Version || !equalCond(s.Condition, req.Condition) ||
				s.Transport.Callback != cb.url() || s.Status != eventsub.StatusVerificationPending {
				t.Errorf("created %+v, want a pending %s with the request's condition and callback", s, req.Type)
			}
			if s.Transport.Secret != "" {
				t.Error("Twitch echoed the secret")
			}
			v := waitVerified(t, e, s.ID)
			if v.Status != eventsub.StatusEnabled {
				t.Errorf("status after challenge = %s, want enabled", v.Status)
			}
			if !cb.wasChallenged(s.ID) {
				t.Error("our callback never answered a correctly signed challenge for it")
			}
			created = append(created, s)
		})
	}
	if len(created) != 5 {
		t.Fatalf("created %d subscriptions, want 5", len(created))
	}
	if n := cb.forgedCount(); n != 0 {
		t.Errorf("%d deliveries with a bad signature", n)
	}
	allIDs := subIDs(created)

	helix.SetPageSize(e.client, 2) // 5 subscriptions: 3 pages
	filters := []struct {
		name string
		f    helix.ListFilter
		want []string
	}{
		{"all, across pages", helix.ListFilter{}, allIDs},
		{"status", helix.ListFilter{Status: eventsub.StatusEnabled}, allIDs},
		{"status none", helix.ListFilter{Status: eventsub.StatusAuthorizationRevoked}, nil},
		{"type", helix.ListFilter{Type: eventsub.TypeStreamOffline}, allIDs[1:2]},
		{"user id", helix.ListFilter{UserID: "100001"}, allIDs[:4]},
		{"moderator user id", helix.ListFilter{UserID: "200002"}, allIDs[3:4]},
		{"subscription id", helix.ListFilter{SubscriptionID: allIDs[4]}, allIDs[4:5]},
	}
	for _, tt := range filters {
		t.Run("list "+tt.name, func(t *testing.T) {
			subs, err := e.client.ListSubscriptions(ctx, tt.f)
			if err != nil {
				t.Fatalf("ListSubscriptions: %v", err)
			}
			// Twitch lists oldest first.
			if got := subIDs(subs); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		id := allIDs[0]
		if err := e.client.DeleteSubscription(ctx, id); err != nil {
			t.Fatalf("DeleteSubscription: %v", err)
		}
		err := e.client.DeleteSubscription(ctx, id)
		if !errors.Is(err, helix.ErrNotFound) {
			t.Errorf("second delete: err = %v, want ErrNotFound", err)
		}
		if subs, _ := e.client.ListSubscriptions(ctx, helix.ListFilter{}); slices.Contains(subIDs(subs), id) {
			t.Error("deleted subscription is still listed")
		}
		if slices.ContainsFunc(e.sim.Subscriptions(), func(s eventsub.Subscription) bool { return s.ID == id }) {
			t.Error("the simulator still has the deleted subscription")
		}
	})
}

func equalCond(a, b eventsub.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCreateSubscriptionConflictAdopted(t *testing.T) {
	e := newEnv(t)
	cb := newCallbackServer(t)
	ctx := context.Background()
	req := cb.request(eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100003"})
	first, err := e.client.CreateSubscription(ctx, req)
	if err != nil {
		t.Fatalf("first create: %v", err)
	}
	waitVerified(t, e, first.ID)

	again, err := e.client.CreateSubscription(ctx, req)
	if err != nil {
		t.Fatalf("second create (409 expected and adopted): %v", err)
	}
	if again.ID != first.ID || again.Status != eventsub.StatusEnabled {
		t.Errorf("adopted %+v, want the existing enabled subscription %s", again, first.ID)
	}
	if got := e.statuses(); !slices.Contains(got, http.StatusConflict) {
		t.Errorf("attempts = %v: the simulator never answered 409", got)
	}
	if n := len(e.sim.Subscriptions()); n != 1 {
		t.Errorf("simulator has %d subscriptions, want 1", n)
	}
}

func TestCreateSubscriptionFollowNotModerator(t *testing.T) {
	e := newEnv(t)
	cb := newCallbackServer(t)
	// lurker_lou granted the scope but does not moderate pixelpaladin.
	e.userToken(t, "lurker_lou", "moderator:read:followers")
	req := cb.request(eventsub.TypeChannelFollow, eventsub.Condition{"broadcaster_user_id": "100001", "moderator_user_id": "200001"})
	_, err := e.client.CreateSubscription(context.Background(), req)
	if !errors.Is(err, helix.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	for _, want := range []string{"channel.follow", "broadcaster_user_id=100001", "moderator_user_id=200001"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), cb.secret) {
		t.Error("error contains the webhook secret")
	}
}

func TestCreateSubscriptionBadRequest(t *testing.T) {
	e := newEnv(t)
	cb := newCallbackServer(t)
	req := cb.request(eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100001"})
	req.Transport.Secret = "short" // Twitch wants 10-100 characters
	_, err := e.client.CreateSubscription(context.Background(), req)
	if !errors.Is(err, helix.ErrBadRequest) {
		t.Fatalf("err = %v, want ErrBadRequest", err)
	}
	if !strings.Contains(err.Error(), "stream.online{broadcaster_user_id=100001}") {
		t.Errorf("error %q does not name type and condition", err)
	}
}

func TestListSubscriptionsTwoFilters(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.ListSubscriptions(context.Background(), helix.ListFilter{Type: "stream.online", UserID: "1"})
	if !errors.Is(err, helix.ErrBadRequest) {
		t.Errorf("err = %v, want ErrBadRequest", err)
	}
	if got := e.statuses(); len(got) != 0 {
		t.Errorf("requests = %v, want none", got)
	}
}

func TestDeleteSubscriptionUnknown(t *testing.T) {
	e := newEnv(t)
	err := e.client.DeleteSubscription(context.Background(), "2f4b5a2e-0000-4000-8000-000000000000")
	if !errors.Is(err, helix.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestCreateSubscriptionTooManyIdenticalNotWaited(t *testing.T) {
	e := newEnv(t)
	cb := newCallbackServer(t)
	ctx := context.Background()
	req := cb.request(eventsub.TypeStreamOffline, eventsub.Condition{"broadcaster_user_id": "100004"})
	// Twitch allows 3 identical type+version+condition subscriptions (other callbacks).
	for i := range 3 {
		req.Transport.Callback = cb.srv.URL + "/callback/s" + string(rune('a'+i))
		if _, err := e.client.CreateSubscription(ctx, req); err != nil {
			t.Fatalf("create %d: %v", i+1, err)
		}
	}
	req.Transport.Callback = cb.srv.URL + "/callback/sd"
	_, err := e.client.CreateSubscription(ctx, req)
	if !errors.Is(err, helix.ErrRateLimited) {
		t.Fatalf("4th identical: err = %v, want a 429", err)
	}
	if got := e.sleepCalls(); len(got) != 0 {
		t.Errorf("waited %v for a 429 that is not about the rate limit", got)
	}
	if got := e.statuses(); !slices.Equal(got, []int{202, 202, 202, 429}) {
		t.Errorf("attempts = %v, want [202 202 202 429] (no retry)", got)
	}
}
