package securitytest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// TestTwitchFaultsOnSubscribe: 429 with Ratelimit-Reset, a burst of 5xx and slow answers on
// the create call; every feed still ends up active and events flow.
func TestTwitchFaultsOnSubscribe(t *testing.T) {
	const create = "/helix/eventsub/subscriptions"
	for _, tt := range []struct {
		name  string
		fault twitchsim.Fault
	}{
		{"429 with Ratelimit-Reset", twitchsim.Fault{Path: create, Method: "POST", Status: 429, Count: 3}},
		{"burst of 5xx", twitchsim.Fault{Path: create, Method: "POST", Status: 503, Count: 4}},
		{"slow answers (2 s)", twitchsim.Fault{Path: create, Method: "POST", Delay: 2 * time.Second, Count: 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{})
			h.Sim.InjectFault(tt.fault)
			start := time.Now()
			_, s, _ := watcher(t, h, "modmaria", "pixelpaladin")
			took := time.Since(start)
			if _, err := h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "after the fault", ""); err != nil {
				t.Fatal(err)
			}
			expectTitle(t, s, "after the fault")
			t.Logf("observed: feeds active after %v, event delivered", took.Round(10*time.Millisecond))
		})
	}
}

// TestSubscriptionStuckPending: Twitch cannot get the challenge of one subscription through
// (the front proxy answers it 502 itself), so Twitch marks it failed. The user must see that
// feed failed, with a reason, and the other feeds keep working.
func TestSubscriptionStuckPending(t *testing.T) {
	h := frontProxy(t, apptest.Options{}, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get(eventsub.HeaderMessageType) == eventsub.MessageTypeVerification &&
			r.Header.Get(eventsub.HeaderSubscriptionType) == eventsub.TypeStreamOnline {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return true
		}
		return false
	})
	b := loggedIn(t, h, "modmaria", "pixelpaladin")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var online eventsub.Subscription
	apptest.Wait(t, waitFor, "the stream.online subscription in the simulator", func() bool {
		for _, sub := range h.Sim.Subscriptions() {
			if sub.Type == eventsub.TypeStreamOnline {
				online = sub
				return true
			}
		}
		return false
	})
	if sub, err := h.Sim.WaitVerified(ctx, online.ID); err != nil || sub.Status != eventsub.StatusVerificationFailed {
		t.Fatalf("simulator status %q %v, want %s", sub.Status, err, eventsub.StatusVerificationFailed)
	}
	var last map[string]apptest.Feed
	feeds, err := s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool {
		last = f
		return f["stream_changed"].Status == "failed" && f["user_changed"].Status == "active"
	})
	if err != nil {
		t.Fatalf("the user never saw the failed feed (Twitch: %s); last feed_status %+v: %v", eventsub.StatusVerificationFailed, last, err)
	}
	if feeds["stream_changed"].Reason == "" {
		t.Error("failed feed without a reason")
	}
	if _, err := h.Sim.UpdateUser(ctx, "pixelpaladin", "other feeds still work"); err != nil {
		t.Fatal(err)
	}
	if f := nextEvent(t, s); f.Event.Type != "user.update" {
		t.Fatalf("got %s", f.Raw)
	}
	t.Logf("observed: stream_changed failed (%q), user_changed active and delivering", feeds["stream_changed"].Reason)
}

// TestRevocationShownWithReason: Twitch revokes one subscription; the feed shows revoked with
// the reason in words, and the other feeds keep delivering.
func TestRevocationShownWithReason(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeUserUpdate)
	d, err := h.Sim.RevokeSubscription(t.Context(), sub.ID, eventsub.StatusUserRemoved)
	if err != nil || d.Status/100 != 2 {
		t.Fatalf("revocation delivery: %+v %v", d, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	feeds, err := s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool { return f["user_changed"].Status == "revoked" })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(feeds["user_changed"].Reason, "no longer exists") || feeds["stream_changed"].Status != "active" {
		t.Fatalf("feeds after revocation: %+v", feeds)
	}
	if _, err := h.Sim.UpdateChannel(ctx, "pixelpaladin", "still here", ""); err != nil {
		t.Fatal(err)
	}
	expectTitle(t, s, "still here")
	t.Logf("observed: user_changed revoked (%q), answer %d; stream_changed still delivering", feeds["user_changed"].Reason, d.Status)
}

// TestDuplicateDeliveryShownOnce: Twitch delivers every notification twice (same message id);
// the browser sees each event once.
func TestDuplicateDeliveryShownOnce(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, _ := watcher(t, h, "modmaria", "pixelpaladin")
	h.Sim.SetMisbehavior(twitchsim.Misbehavior{DuplicateDelivery: true})
	attempts := 0
	for i := range 5 {
		ds, err := h.Sim.UpdateChannel(t.Context(), "pixelpaladin", fmt.Sprint("twice ", i), "")
		if err != nil {
			t.Fatal(err)
		}
		attempts += len(ds)
	}
	h.Sim.SetMisbehavior(twitchsim.Misbehavior{})
	h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "marker", "")
	for i := range 5 {
		expectTitle(t, s, fmt.Sprint("twice ", i))
	}
	expectTitle(t, s, "marker")
	t.Logf("observed: %d deliveries for 5 notifications; the socket got each once, then the marker", attempts)
}

// TestFourViewersOfOneStreamer: Twitch allows at most 3 webhook subscriptions with the same
// type, version and condition (RFC 0014; the simulator enforces it with 429). Subscribing per
// browser session, the fourth viewer of a streamer cannot get events; every viewer must.
func TestFourViewersOfOneStreamer(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	var tabs []*apptest.Socket
	for _, viewer := range []string{"modmaria", "lurker_lou", "quietquinn", "h4x0r"} {
		s, err := loggedIn(t, h, viewer, "pixelpaladin").Connect(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		feeds, err := s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool { return f["stream_changed"].Status != "pending" })
		if err != nil {
			t.Fatal(err)
		}
		if st := feeds["stream_changed"]; st.Status != "active" {
			t.Errorf("viewer %d (%s): stream_changed %s (%q)", len(tabs)+1, viewer, st.Status, st.Reason)
		}
		tabs = append(tabs, s)
	}
	if t.Failed() {
		return
	}
	for _, sid := range slices.Collect(maps.Keys(sessionIDs(h))) {
		settled(t, h, sid)
	}
	h.Sim.UpdateChannel(ctx, "pixelpaladin", "for everyone", "")
	for _, s := range tabs {
		expectTitle(t, s, "for everyone")
	}
}
