package relay

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// ensureAll runs SubscribeToAllEvents for every session at once, waits until none has a pending feed, and
// until Twitch has enabled every subscription under our callbacks.
func (e *env) ensureAll(sessions ...Session) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(sessions))
	for i, s := range sessions {
		wg.Go(func() { errs[i] = e.m.SubscribeToAllEvents(ctx, s) })
	}
	wg.Wait()
	for i, s := range sessions {
		if errs[i] != nil {
			e.t.Fatalf("Ensure %d: %v", i, errs[i])
		}
		e.sink.wait(e.t, "no feed pending", func() bool {
			got := e.sink.statuses[s.ID]
			for _, f := range got {
				if f.Status == StatusPending {
					return false
				}
			}
			return len(got) == len(feedOrder)
		})
	}
	for _, sub := range e.ourSubs() {
		if _, err := e.sim.WaitVerified(ctx, sub.ID); err != nil {
			e.t.Fatalf("WaitVerified %s: %v", sub.Type, err)
		}
	}
}

// ourSubs returns the simulator's subscriptions under this relay's callback prefix.
func (e *env) ourSubs() []eventsub.Subscription {
	var out []eventsub.Subscription
	for _, s := range e.sim.Subscriptions() {
		if strings.HasPrefix(s.Transport.Callback, e.m.prefix) {
			out = append(out, s)
		}
	}
	return out
}

// checkOnePerCondition fails unless the simulator holds exactly want subscriptions under our
// prefix, at most one per type, version and condition.
func checkOnePerCondition(t *testing.T, e *env, want int) []eventsub.Subscription {
	t.Helper()
	subs := e.ourSubs()
	seen := map[string]string{}
	for _, s := range subs {
		k := shareKey(s.Type, s.Condition)
		if id, dup := seen[k]; dup {
			t.Errorf("two subscriptions %s and %s of %s %v", id, s.ID, s.Type, s.Condition)
		}
		seen[k] = s.ID
	}
	if len(subs) != want {
		t.Fatalf("simulator has %d subscriptions, want %d: %+v", len(subs), want, subs)
	}
	return subs
}

// twitchEvents returns a session's events without the following-poller's.
func (e *env) twitchEvents(sid string) []webhook.Event {
	var out []webhook.Event
	for _, ev := range e.sink.Events(sid) {
		if ev.Type != TypeUserFollows {
			out = append(out, ev)
		}
	}
	return out
}

// Six sessions (three browsers of a moderator, three of the streamer) watch one streamer:
// every feed of each is active, each gets every event exactly once, in order, and Twitch
// holds one subscription per type and condition (channel.follow once per moderator).
func TestSixViewersShareSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var ss []Session
	for _, user := range []string{"modmaria", "pixelpaladin", "modmaria", "pixelpaladin", "modmaria", "pixelpaladin"} {
		ss = append(ss, e.session(user, "pixelpaladin"))
	}
	e.ensureAll(ss...)
	for _, s := range ss {
		for _, feed := range []string{FeedFollowedBy, FeedStreamChanged, FeedUserChanged} {
			if f := statusOf(e.m.Statuses(s.ID), feed); f.Status != StatusActive {
				t.Errorf("session of %s: %s = %s (%s), want active", s.UserLogin, feed, f.Status, f.Reason)
			}
		}
	}
	checkOnePerCondition(t, e, 7) // 5 for the streamer + channel.follow per moderator (2)

	ds, err := e.sim.Follow(ctx, "quietquinn", "pixelpaladin")
	checkDelivered(t, "Follow", ds, err)
	ds, err = e.sim.EndStream(ctx, "pixelpaladin")
	checkDelivered(t, "EndStream", ds, err)
	ds, err = e.sim.GoLive(ctx, "pixelpaladin", "shared", "Retro")
	checkDelivered(t, "GoLive", ds, err)
	ds, err = e.sim.UpdateChannel(ctx, "pixelpaladin", "for six", "Chess")
	checkDelivered(t, "UpdateChannel", ds, err)
	ds, err = e.sim.UpdateUser(ctx, "pixelpaladin", "six viewers")
	checkDelivered(t, "UpdateUser", ds, err)
	want := []string{"channel.follow", "stream.offline", "stream.online", "channel.update", "user.update"}
	for i, s := range ss {
		got := e.twitchEvents(s.ID)
		var types []string
		for _, ev := range got {
			types = append(types, ev.Type)
		}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Errorf("session %d (%s) got %v, want %v", i, s.UserLogin, types, want)
		}
	}
}

// The session that created the shared subscriptions ends: they stay, their callbacks (which
// name the ended session) still reach the five others; when the last reference drops (one by
// End, the last by its lease), they are deleted in Twitch.
func TestCreatorEndsSubscriptionsStay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lease = time.Minute })
	ctx := context.Background()
	creator := e.session("modmaria", "pixelpaladin")
	e.ensure(creator)
	subs := checkOnePerCondition(t, e, 6)
	var others []Session
	for range 5 {
		s := e.session("modmaria", "pixelpaladin")
		e.m.SocketOpened(s.ID)
		others = append(others, s)
	}
	e.ensureAll(others...)
	checkOnePerCondition(t, e, 6)
	if err := e.m.UnsubscribeFromAllEvents(ctx, creator.ID, "logout"); err != nil {
		t.Fatalf("End creator: %v", err)
	}
	after := checkOnePerCondition(t, e, 6)
	for i := range subs {
		if after[i].ID != subs[i].ID || after[i].Transport.Callback != e.m.CallbackURL(creator.ID) {
			t.Fatalf("subscription %d changed after the creator ended: %+v", i, after[i])
		}
	}
	ds, err := e.sim.UpdateChannel(ctx, "pixelpaladin", "still here", "")
	checkDelivered(t, "UpdateChannel", ds, err)
	for i, s := range others {
		if got := e.sink.Events(s.ID); len(got) != 1 || got[0].Type != eventsub.TypeChannelUpdate {
			t.Errorf("remaining session %d got %+v, want one channel.update", i, got)
		}
	}
	if n := len(e.sink.Events(creator.ID)); n != 0 {
		t.Errorf("the ended creator got %d events", n)
	}
	for _, s := range others[:4] {
		if err := e.m.UnsubscribeFromAllEvents(ctx, s.ID, "logout"); err != nil {
			t.Fatal(err)
		}
	}
	checkOnePerCondition(t, e, 6)
	last := others[4]
	e.m.SocketClosed(last.ID) // the lease starts
	if err := e.m.Expire(ctx, time.Now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs {
		e.waitGone(sub.ID)
	}
	if e.m.Statuses(last.ID) != nil {
		t.Error("the last session outlived its lease")
	}
}

// Twitch revokes a shared subscription: every referencing session's feed shows it, with the
// reason, and no record keeps it.
func TestSharedRevocationReachesAll(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ss := []Session{e.session("modmaria", "pixelpaladin"), e.session("modmaria", "pixelpaladin"), e.session("modmaria", "pixelpaladin")}
	e.ensureAll(ss...)
	var follow eventsub.Subscription
	for _, sub := range checkOnePerCondition(t, e, 6) {
		if sub.Type == eventsub.TypeChannelFollow {
			follow = sub
		}
	}
	d, err := e.sim.RevokeSubscription(ctx, follow.ID, eventsub.StatusModeratorRemoved)
	if err != nil || d.Status != 204 {
		t.Fatalf("revocation answered %d (%v), want 204", d.Status, err)
	}
	for _, s := range ss {
		f := e.sink.waitStatus(t, s.ID, FeedFollowedBy, StatusRevoked)
		if f.Reason != "you are no longer a moderator of this channel" {
			t.Errorf("reason = %q", f.Reason)
		}
		if rec, _, _ := e.store.Load(ctx, s.ID); len(rec.Subs) != 5 {
			t.Errorf("the record references %d subscriptions, want 5 (not the revoked one)", len(rec.Subs))
		}
	}
}
