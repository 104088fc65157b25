package relay

import (
	"context"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// The streamer watching their own channel: every webhook feed active (chat highlights wait for
// the WebSocket transport), and Twitch holds exactly the six subscriptions with the right conditions, all enabled by our answer to the challenge.
func TestSubscribeStreamerAllFeedsActive(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("pixelpaladin", "pixelpaladin")
	got := e.ensure(s)
	wantAllActive(t, got)
	e.sink.waitStatus(t, s.ID, FeedFollowing, StatusActive)
	subs := e.simSubs(s.ID)
	want := map[string]eventsub.Condition{
		eventsub.TypeChannelFollow: {"broadcaster_user_id": s.Streamer.ID, "moderator_user_id": s.UserID},
		eventsub.TypeStreamOnline:  {"broadcaster_user_id": s.Streamer.ID},
		eventsub.TypeStreamOffline: {"broadcaster_user_id": s.Streamer.ID},
		eventsub.TypeChannelUpdate: {"broadcaster_user_id": s.Streamer.ID},
		eventsub.TypeUserUpdate:    {"user_id": s.Streamer.ID},
		eventsub.TypeChannelRaid:   {"to_broadcaster_user_id": s.Streamer.ID},
	}
	if len(subs) != len(want) {
		t.Fatalf("simulator has %d subscriptions for the session, want %d: %+v", len(subs), len(want), subs)
	}
	for _, sub := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		sub, err := e.sim.WaitVerified(ctx, sub.ID)
		cancel()
		if err != nil || sub.Status != eventsub.StatusEnabled {
			t.Errorf("%s: status %s, err %v; want enabled", sub.Type, sub.Status, err)
		}
		if c, ok := want[sub.Type]; !ok || len(c) != len(sub.Condition) {
			t.Errorf("%s: condition %v, want %v", sub.Type, sub.Condition, c)
		} else {
			for k, v := range c {
				if sub.Condition[k] != v {
					t.Errorf("%s: condition %v, want %v", sub.Type, sub.Condition, c)
				}
			}
		}
	}
	// A repeat is a no-op: no new subscriptions.
	e.ensure(s)
	if n := len(e.simSubs(s.ID)); n != len(want) {
		t.Fatalf("after a repeated SubscribeToAllEvents the simulator has %d subscriptions, want %d", n, len(want))
	}
}

func TestFollowerFeedModerator(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin") // modmaria moderates pixelpaladin
	got := e.ensure(s)
	if f := statusOf(got, FeedFollowedBy); f.Status != StatusActive {
		t.Errorf("followed_by = %s (%s), want active for a moderator", f.Status, f.Reason)
	}
	if f := statusOf(got, FeedFollowing); f.Status != StatusUnavailable || f.Reason != reasonFollowingOnly {
		t.Errorf("following = %s (%q), want unavailable (%q)", f.Status, f.Reason, reasonFollowingOnly)
	}
}

// One feed failing never stops the others.
func TestFollowerFeedNonModerator(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("lurker_lou", "pixelpaladin")
	got := e.ensure(s)
	if f := statusOf(got, FeedFollowedBy); f.Status != StatusUnavailable || f.Reason != reasonNotModerator {
		t.Errorf("followed_by = %s (%q), want unavailable (%q)", f.Status, f.Reason, reasonNotModerator)
	}
	for _, feed := range []string{FeedStreamChanged, FeedUserChanged} {
		if f := statusOf(got, feed); f.Status != StatusActive {
			t.Errorf("%s = %s (%s), want active", feed, f.Status, f.Reason)
		}
	}
	if n := len(e.simSubs(s.ID)); n != 5 {
		t.Errorf("simulator has %d subscriptions, want 5 (no channel.follow)", n)
	}
}

// Twitch answers 429 (rate limit) and 503 to creates: the helix client waits and retries,
// and every feed still ends up active.
func TestSubscribeSurvives429And5xx(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: "POST", Status: 429, Count: 1})
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: "POST", Status: 503, Count: 2})
	s := e.session("pixelpaladin", "pixelpaladin")
	wantAllActive(t, e.ensure(s))
	if e.waits.Load() == 0 {
		t.Error("the 429 was not waited out (no rate-limit wait)")
	}
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Errorf("simulator has %d subscriptions, want 6", n)
	}
}

// When Twitch keeps failing, the feed says so in words, and a later SubscribeToAllEvents retries it.
func TestSubscribeRetriesFailedFeeds(t *testing.T) {
	e := newEnv(t, nil)
	// 6 webhook subscription types × (1 try + 3 retries of the helix client) fail.
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: "POST", Status: 500, Count: 24})
	s := e.session("lurker_lou", "cozycrafter")
	got := e.ensure(s)
	for _, feed := range []string{FeedFollowedBy, FeedStreamChanged, FeedUserChanged, FeedRaids} {
		if f := statusOf(got, feed); f.Status != StatusFailed || f.Reason == "" {
			t.Errorf("%s = %s (%q), want failed with a reason", feed, f.Status, f.Reason)
		}
	}
	if n := len(e.simSubs(s.ID)); n != 0 {
		t.Fatalf("simulator has %d subscriptions after failures, want 0", n)
	}
	got = e.ensure(s)
	if f := statusOf(got, FeedStreamChanged); f.Status != StatusActive {
		t.Errorf("stream_changed after retry = %s (%s), want active", f.Status, f.Reason)
	}
	if f := statusOf(got, FeedFollowedBy); f.Status != StatusUnavailable {
		t.Errorf("followed_by after retry = %s (%s), want unavailable (not a moderator)", f.Status, f.Reason)
	}
}

// slowCreate returns Create's answer only after Twitch's challenge has reached us and is
// waiting for it, an order a real network may produce.
type slowCreate struct {
	Helix
	arrived <-chan struct{}
}

func (h slowCreate) CreateSubscription(ctx context.Context, req eventsub.CreateRequest) (eventsub.Subscription, error) {
	sub, err := h.Helix.CreateSubscription(ctx, req)
	select {
	case <-h.arrived:
	case <-ctx.Done():
	}
	return sub, err
}

// The challenge arrives before our create call has returned the subscription id: the
// receiver waits for it and then answers, and the feed becomes active.
func TestChallengeBeforeCreateReturns(t *testing.T) {
	arrived := make(chan struct{})
	var once sync.Once
	e := newEnv(t, nil)
	e.m = e.newManager(func(c *Config) { c.Helix = slowCreate{Helix: e.helix, arrived: arrived} })
	e.m.challengeWaiting = func() { once.Do(func() { close(arrived) }) }
	s := e.session("modmaria", "pixelpaladin")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.m.SubscribeUserChanged(ctx, s); err != nil {
		t.Fatal(err)
	}
	f := e.sink.waitStatus(t, s.ID, FeedUserChanged, StatusActive)
	subs := e.simSubs(s.ID)
	if len(subs) != 1 || subs[0].Type != eventsub.TypeUserUpdate {
		t.Fatalf("SubscribeUserChanged created %+v, want one user.update", subs)
	}
	sub, err := e.sim.WaitVerified(ctx, subs[0].ID)
	if err != nil || sub.Status != eventsub.StatusEnabled {
		t.Fatalf("subscription %s (%v), want enabled; feed %+v", sub.Status, err, f)
	}
}

// wantAllActive checks that every feed is active but chat highlights, which this server cannot
// open without the viewer's WebSocket session and says so.
func wantAllActive(t *testing.T, got []FeedStatus) {
	t.Helper()
	if len(got) != len(feedOrder) {
		t.Fatalf("%d feeds, want %d", len(got), len(feedOrder))
	}
	for _, f := range got {
		switch {
		case f.Feed == FeedChatHighlights && (f.Status != StatusUnavailable || f.Reason != reasonNeedsWebSocket):
			t.Errorf("chat_highlights = %s (%q), want unavailable (%q)", f.Status, f.Reason, reasonNeedsWebSocket)
		case f.Feed != FeedChatHighlights && f.Status != StatusActive:
			t.Errorf("feed %s = %s (%s), want active", f.Feed, f.Status, f.Reason)
		}
	}
}
