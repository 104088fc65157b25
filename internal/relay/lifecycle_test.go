package relay

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// Subscriptions live while a socket is open plus the lease; then they are deleted in Twitch,
// the state is forgotten and OnRelease is called.
func TestLeaseExpiryDeletesSubscriptions(t *testing.T) {
	var mu sync.Mutex
	var released []string
	e := newEnv(t, func(c *Config) {
		c.Lease = time.Minute
		c.OnRelease = func(sid string) { mu.Lock(); released = append(released, sid); mu.Unlock() }
	})
	ctx := context.Background()
	s := e.session("modmaria", "pixelpaladin")
	e.m.SocketOpened(s.ID)
	e.ensure(s)
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Fatalf("simulator has %d subscriptions, want 6", n)
	}
	// An open socket: no lease runs, however late it is.
	if err := e.m.Expire(ctx, time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Fatalf("with a socket open, Expire deleted subscriptions: %d left", n)
	}
	e.m.SocketOpened(s.ID) // a second tab
	e.m.SocketClosed(s.ID)
	e.m.SocketClosed(s.ID) // the last socket closes: the lease starts
	closed := time.Now()
	if err := e.m.Expire(ctx, closed.Add(time.Minute-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.simSubs(s.ID)); n != 6 || e.m.Statuses(s.ID) == nil {
		t.Fatalf("within the lease: %d subscriptions, statuses %v; want all kept", n, e.m.Statuses(s.ID))
	}
	if err := e.m.Expire(ctx, closed.Add(time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if subs := e.simSubs(s.ID); len(subs) != 0 {
		t.Fatalf("after the lease the simulator still has %d subscriptions", len(subs))
	}
	if e.m.Statuses(s.ID) != nil {
		t.Error("the session's state outlived its lease")
	}
	if _, ok, _ := e.store.Load(ctx, s.ID); ok {
		t.Error("the store still holds the session")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(released) != 1 || released[0] != s.ID {
		t.Errorf("OnRelease calls = %v, want the session once", released)
	}
}

// A session that opens the page but never a socket still has a lease.
func TestLeaseWithoutSocket(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lease = time.Minute })
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	if err := e.m.Expire(context.Background(), time.Now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.simSubs(s.ID)); n != 0 {
		t.Fatalf("%d subscriptions outlived the lease of a session without sockets", n)
	}
}

func TestEndDeletesEverything(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("pixelpaladin", "pixelpaladin")
	e.ensure(s)
	if err := e.m.UnsubscribeFromAllEvents(context.Background(), s.ID, "logout"); err != nil {
		t.Fatalf("End: %v", err)
	}
	if n := len(e.simSubs(s.ID)); n != 0 {
		t.Fatalf("after End the simulator has %d subscriptions", n)
	}
	if e.m.Statuses(s.ID) != nil {
		t.Error("statuses outlived UnsubscribeFromAllEvents")
	}
	// Ending twice is harmless.
	if err := e.m.UnsubscribeFromAllEvents(context.Background(), s.ID, "again"); err != nil {
		t.Fatalf("UnsubscribeFromAllEvents twice: %v", err)
	}
}

func TestStreamerChangeDeletesOld(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("modmaria", "pixelpaladin")
	e.ensure(s)
	old := e.simSubs(s.ID)
	s.Streamer = Streamer{ID: "100002", Login: "cozycrafter", DisplayName: "CozyCrafter"}
	e.sink.mu.Lock()
	delete(e.sink.statuses, s.ID)
	e.sink.mu.Unlock()
	e.ensure(s)
	for _, sub := range e.sim.Subscriptions() {
		for _, o := range old {
			if sub.ID == o.ID {
				t.Errorf("old %s subscription of pixelpaladin still exists", o.Type)
			}
		}
	}
	subs := e.simSubs(s.ID)
	if len(subs) != 6 {
		t.Fatalf("new streamer: %d subscriptions, want 6", len(subs))
	}
	for _, sub := range subs {
		if sub.Condition["broadcaster_user_id"] != "100002" && sub.Condition["user_id"] != "100002" && sub.Condition["to_broadcaster_user_id"] != "100002" {
			t.Errorf("%s subscription is not for the new streamer: %v", sub.Type, sub.Condition)
		}
	}
}

// Shutdown with in-memory state deletes what we own; with Redis-like state it keeps it.
func TestShutdown(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newEnv(t, nil)
		s := e.session("modmaria", "pixelpaladin")
		e.ensure(s)
		if err := e.m.Shutdown(context.Background(), keep); err != nil {
			t.Fatalf("Shutdown(keep=%v): %v", keep, err)
		}
		want := 0
		if keep {
			want = 6
		}
		if n := len(e.simSubs(s.ID)); n != want {
			t.Errorf("Shutdown(keep=%v): %d subscriptions left, want %d", keep, n, want)
		}
	}
}

// At start-up, Reconcile deletes leftovers nobody owns, adopts owned ones (recreating those
// Twitch disabled) and leaves other callbacks alone.
func TestReconcile(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	owned := e.session("modmaria", "pixelpaladin")
	orphan := e.session("lurker_lou", "cozycrafter")
	e.ensure(owned)
	e.ensure(orphan)
	// Someone else's subscription on the same app: not under our callback prefix.
	foreign, err := e.helix.CreateSubscription(ctx, eventsub.CreateRequest{Type: "stream.online", Version: "1",
		Condition: eventsub.Condition{"broadcaster_user_id": "100003"},
		Transport: eventsub.Transport{Method: "webhook", Callback: "http://127.0.0.1:1/elsewhere", Secret: "0123456789abcdef"}})
	if err != nil {
		t.Fatalf("create foreign subscription: %v", err)
	}
	// Twitch disabled one of the owned session's subscriptions while we were down.
	offline := subOfType(t, e, owned.ID, eventsub.TypeStreamOffline)
	if _, err := e.sim.RevokeSubscription(ctx, offline.ID, eventsub.StatusNotificationFailuresExceeded); err != nil {
		t.Fatal(err)
	}
	// The process stops without deleting (keep), and the orphan's session is gone from the store.
	if err := e.m.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, orphan.ID); err != nil {
		t.Fatal(err)
	}
	orphanSubs := e.simSubs(orphan.ID)
	e.sink.mu.Lock()
	delete(e.sink.statuses, owned.ID) // what the first process said no longer counts
	e.sink.mu.Unlock()
	e.m = e.newManager(nil)
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, sub := range orphanSubs {
		e.waitGone(sub.ID)
	}
	if _, err := e.helix.ListSubscriptions(ctx, helix.ListFilter{SubscriptionID: foreign.ID}); err != nil {
		t.Fatalf("list foreign: %v", err)
	}
	if got, _ := e.helix.ListSubscriptions(ctx, helix.ListFilter{SubscriptionID: foreign.ID}); len(got) != 1 {
		t.Error("Reconcile deleted a subscription outside our callback prefix")
	}
	subs := e.simSubs(owned.ID)
	if len(subs) != 6 {
		t.Fatalf("owned session has %d subscriptions after Reconcile, want 6", len(subs))
	}
	for _, sub := range subs {
		if sub.ID == offline.ID {
			t.Error("the revoked stream.offline subscription was kept instead of recreated")
		}
	}
	for _, feed := range []string{FeedFollowedBy, FeedStreamChanged, FeedUserChanged} {
		e.sink.waitStatus(t, owned.ID, feed, StatusActive) // stream.offline via a new challenge
	}
	// The adopted session receives events, the recreated subscription's included.
	for _, sub := range subs {
		wctx, cancel := context.WithTimeout(ctx, waitFor)
		_, err := e.sim.WaitVerified(wctx, sub.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	before := len(e.sink.Events(owned.ID))
	if ds, err := e.sim.EndStream(ctx, "pixelpaladin"); err != nil || len(ds) != 1 || ds[0].Status != 204 {
		t.Fatalf("EndStream after Reconcile: %+v %v", ds, err)
	}
	got := e.sink.Events(owned.ID)
	if len(got) != before+1 || got[len(got)-1].Type != eventsub.TypeStreamOffline {
		t.Fatalf("adopted session got %+v, want one stream.offline", got[before:])
	}
}
