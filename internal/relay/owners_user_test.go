package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// TestOneOwnerPerUser: one Twitch user, two relay sessions, one socket on instance a and one
// on instance b. a claimed the user first: b's subscribe is refused (owned elsewhere) and a
// runs both sessions, b's included (its lease does not run while b says it has the socket).
// a does not let the user go while it has a socket of theirs, however often b asks. Once a's
// socket closes, b's next claims round gets the user handed over: a forgets both sessions, b
// runs both, their subscriptions kept as they are in Twitch.
func TestOneOwnerPerUser(t *testing.T) {
	e := newRedisEnv(t)
	owners := newFakeOwners()
	a, b := owners.manager(e, "a"), owners.manager(e, "b")
	ctx := context.Background()
	s1 := e.session("modmaria", "pixelpaladin")
	s2 := e.session("modmaria", "pixelpaladin")
	e.m = a
	a.SocketOpened(s1.ID)
	e.ensure(s1)
	b.SocketOpened(s2.ID)
	if err := b.SubscribeToAllEvents(ctx, s2); !errors.Is(err, ErrOwnedElsewhere) {
		t.Fatalf("b subscribed a session of a user a owns: %v", err)
	}
	claimRounds(t, "a to run b's session too", func() bool { return held(a, s2.ID) }, a, b)
	for range 5 { // b keeps asking; a keeps the user, it has a socket of theirs
		b.renewClaims(ctx)
		a.renewClaims(ctx)
	}
	if held(b, s1.ID) || held(b, s2.ID) || !held(a, s1.ID) {
		t.Fatalf("ownership split: a %v/%v, b %v/%v", held(a, s1.ID), held(a, s2.ID), held(b, s1.ID), held(b, s2.ID))
	}
	// A lease sweep far in the future on a: b's session has its socket on b, s1 on a.
	a.mu.Lock()
	a.own.remote[s2.ID] = time.Now().Add(3 * testLease) // b said so "then"
	a.mu.Unlock()
	if err := a.Expire(ctx, time.Now().Add(2*testLease)); err != nil {
		t.Fatal(err)
	}
	if !held(a, s2.ID) {
		t.Fatal("a ended b's session while b has its socket")
	}
	before := map[string]bool{}
	for _, sub := range e.sim.Subscriptions() {
		before[sub.ID] = true
	}

	a.SocketClosed(s1.ID) // the user's last socket on a
	claimRounds(t, "b to run both sessions", func() bool {
		return held(b, s1.ID) && held(b, s2.ID) && !held(a, s1.ID) && !held(a, s2.ID)
	}, a, b)
	after := e.sim.Subscriptions()
	for _, sub := range after {
		if !before[sub.ID] {
			t.Errorf("subscription %s %s created again by the handover", sub.ID, sub.Type)
		}
	}
	if len(after) != len(before) {
		t.Fatalf("%d subscriptions after the handover, %d before", len(after), len(before))
	}
	e.m = b
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "on b")
	checkDelivered(t, "UpdateUser", ds, err)
	for _, s := range []Session{s1, s2} {
		if n := len(e.sink.Events(s.ID)); n != 1 {
			t.Errorf("session %s: %d events after the handover, want 1", shortID(s.ID), n)
		}
	}
}

// TestFollowMadeWhileMovingReachesThePage: the following feed's poller moves with its
// session. a polls once (its baseline, and the mark it stores); the user follows a channel;
// the session moves to b before a polls again. b's first poll is not a silent baseline: it
// emits the follow made after a's mark, and nothing that a had already accounted for.
func TestFollowMadeWhileMovingReachesThePage(t *testing.T) {
	e := newRedisEnv(t)
	owners := newFakeOwners()
	slow := func(c *Config) { c.PollInterval = time.Hour } // one poll each: the first
	a, b := owners.managerWith(e, "a", slow), owners.managerWith(e, "b", slow)
	ctx := context.Background()
	s := e.session("pixelpaladin", "pixelpaladin")
	e.m = a
	a.SocketOpened(s.ID)
	e.ensure(s)
	e.sink.waitStatus(t, s.ID, FeedFollowing, StatusActive) // a's baseline, its mark stored
	if rec, _, err := e.store.Load(ctx, s.ID); err != nil || rec.FollowsSeen.IsZero() {
		t.Fatalf("a's mark not stored: %+v, %v", rec, err)
	}
	if _, err := e.sim.Follow(ctx, "pixelpaladin", "nightowl_tv"); err != nil {
		t.Fatal(err)
	}

	a.SocketClosed(s.ID) // the page went to b
	b.SocketOpened(s.ID)
	if err := b.SubscribeToAllEvents(ctx, s); !errors.Is(err, ErrOwnedElsewhere) { // asks a to let go
		t.Fatalf("b subscribed while a held the session: %v", err)
	}
	claimRounds(t, "b to take the session over", func() bool { return held(b, s.ID) }, b, a)
	e.m = b
	if err := b.SubscribeToAllEvents(ctx, s); err != nil { // brings the user's token: the poller starts
		t.Fatalf("b's subscribe after the move: %v", err)
	}
	follows := func() []webhook.Event {
		var out []webhook.Event
		for _, x := range e.sink.events[s.ID] {
			if x.Type == TypeUserFollows {
				out = append(out, x)
			}
		}
		return out
	}
	e.sink.wait(t, "the follow made during the move", func() bool { return len(follows()) > 0 })
	e.sink.mu.Lock()
	got := follows()
	e.sink.mu.Unlock()
	if len(got) != 1 || got[0].Summary != "PixelPaladin followed NightOwl_TV" {
		var sums []string
		for _, x := range got {
			sums = append(sums, x.Summary)
		}
		t.Fatalf("follows events after the move: %q, want only \"PixelPaladin followed NightOwl_TV\"", sums)
	}
}

// TestLogoutElsewhereEndsTheSessionOnItsOwner: a runs both sessions of a user, s2's socket
// on b. The user logs out of s2 on b: b deletes its record, and a, which runs it, lets it go
// too (no poller, no references left running for a session that no longer exists), while s1
// and the subscriptions it still needs stay.
func TestLogoutElsewhereEndsTheSessionOnItsOwner(t *testing.T) {
	e, shares := newSharedEnv(t)
	owners := newFakeOwners()
	instance := func(name string) *Manager { // with the shared-subscription registry, as in production
		return owners.managerWith(e, name, func(c *Config) { c.Registry = shares(name) })
	}
	a, b := instance("a"), instance("b")
	ctx := context.Background()
	s1 := e.session("modmaria", "pixelpaladin")
	s2 := e.session("modmaria", "pixelpaladin")
	e.m = a
	a.SocketOpened(s1.ID)
	e.ensure(s1)
	b.SocketOpened(s2.ID)
	if err := b.SubscribeToAllEvents(ctx, s2); !errors.Is(err, ErrOwnedElsewhere) {
		t.Fatalf("b subscribed a session of a user a owns: %v", err)
	}
	claimRounds(t, "a to run b's session too", func() bool { return held(a, s2.ID) }) // b's report did it
	subsBefore := len(e.sim.Subscriptions())

	b.SocketClosed(s2.ID)
	if err := b.UnsubscribeFromAllEvents(ctx, s2.ID, "logout"); err != nil {
		t.Fatalf("logout on b: %v", err)
	}
	claimRounds(t, "a to let the ended session go", func() bool { return !held(a, s2.ID) }) // no round: b's word
	if !held(a, s1.ID) {
		t.Fatal("a let go of the session that did not end")
	}
	if _, ok, err := e.store.Load(ctx, s2.ID); ok || err != nil {
		t.Fatalf("the ended session's record: %v, %v; want none", ok, err)
	}
	if n := len(e.sim.Subscriptions()); n != subsBefore {
		t.Fatalf("%d subscriptions after the logout, %d before (s1 still needs them all)", n, subsBefore)
	}
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "after the logout")
	checkDelivered(t, "UpdateUser", ds, err)
	if n := len(e.sink.Events(s1.ID)); n != 1 {
		t.Fatalf("s1: %d events after the other session's logout, want 1", n)
	}
	if n := len(e.sink.Events(s2.ID)); n != 0 {
		t.Fatalf("the ended session got %d events", n)
	}
}
