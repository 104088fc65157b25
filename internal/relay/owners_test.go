package relay

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOwners is the claims of several instances in one process: a claim is held by one
// instance name at a time, and a handover request reaches the holder's Manager, as
// internal/lock's Claims and the broker's channel do across processes.
type fakeOwners struct {
	mu       sync.Mutex
	holder   map[string]string   // sid → instance
	managers map[string]*Manager // instance → its Manager
}

func newFakeOwners() *fakeOwners {
	return &fakeOwners{holder: map[string]string{}, managers: map[string]*Manager{}}
}

// instanceOwners is one instance's view (relay.Owners).
type instanceOwners struct {
	f    *fakeOwners
	name string
}

func (o instanceOwners) Claim(_ context.Context, sid string) (bool, error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	if cur := o.f.holder[sid]; cur != "" && cur != o.name {
		return false, nil
	}
	o.f.holder[sid] = o.name
	return true, nil
}

func (o instanceOwners) Drop(_ context.Context, sid string) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	if o.f.holder[sid] == o.name {
		delete(o.f.holder, sid)
	}
}

func (o instanceOwners) Handover(_ context.Context, key string) error {
	claim, _, _ := strings.Cut(key, "/") // handoverKey: the user's claim, then the session
	o.f.mu.Lock()
	m := o.f.managers[o.f.holder[claim]]
	o.f.mu.Unlock()
	if m != nil {
		m.Handover(key)
	}
	return nil
}

func (f *fakeOwners) manager(e *env, name string) *Manager { return f.managerWith(e, name, nil) }

// managerWith is manager with mod applied to its Config too.
func (f *fakeOwners) managerWith(e *env, name string, mod func(*Config)) *Manager {
	m := e.newManager(func(c *Config) {
		c.Owners = instanceOwners{f, name}
		if mod != nil {
			mod(c)
		}
	})
	f.mu.Lock()
	f.managers[name] = m
	f.mu.Unlock()
	return m
}

// held reports whether m runs session sid.
func held(m *Manager, sid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[sid] != nil
}

// claimRounds runs the claims round of every Manager of ms, as their Run does every
// ClaimEvery, until cond holds; it fails after waitFor.
func claimRounds(t *testing.T, what string, cond func() bool, ms ...*Manager) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		for _, m := range ms {
			m.renewClaims(context.Background())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestSocketMovesToAnotherInstance: a session subscribed on instance a; its socket moves to
// instance b. b asks for the session, a lets it go (it has no socket of it), b adopts it with
// its subscriptions as they are in Twitch (none created, none deleted) and delivers; a's
// lease sweep then deletes nothing, and b's deletes everything when the lease ends there.
func TestSocketMovesToAnotherInstance(t *testing.T) {
	e := newRedisEnv(t)
	owners := newFakeOwners()
	a := owners.manager(e, "a")
	e.m = a
	ctx := context.Background()
	s := e.session("modmaria", "pixelpaladin")
	a.SocketOpened(s.ID)
	e.ensure(s)
	before := map[string]bool{}
	for _, sub := range e.simSubs(s.ID) {
		before[sub.ID] = true
	}
	if len(before) != 6 {
		t.Fatalf("%d subscriptions on a, want 6 (channel.follow, stream.online, stream.offline, channel.update, user.update, channel.raid)", len(before))
	}

	a.SocketClosed(s.ID) // the page went to b
	b := owners.manager(e, "b")
	e.m = b
	b.SocketOpened(s.ID)
	if err := b.SubscribeToAllEvents(ctx, s); !errors.Is(err, ErrOwnedElsewhere) {
		t.Fatalf("b subscribed while a held the session: %v", err)
	}
	// b's claims rounds until a has let go.
	claimRounds(t, "b to take the session over", func() bool { return held(b, s.ID) }, b)
	if held(a, s.ID) {
		t.Fatal("a still holds the session it handed over")
	}
	if err := b.SubscribeToAllEvents(ctx, s); err != nil {
		t.Fatalf("b's subscribe after the takeover: %v", err)
	}
	after := e.simSubs(s.ID)
	for _, sub := range after {
		if !before[sub.ID] {
			t.Errorf("subscription %s %s created again by the takeover", sub.ID, sub.Type)
		}
	}
	if len(after) != len(before) {
		t.Fatalf("%d subscriptions after the takeover, %d before", len(after), len(before))
	}
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "on b")
	checkDelivered(t, "UpdateUser", ds, err)
	if got := e.sink.Events(s.ID); len(got) != 1 {
		t.Fatalf("events after the takeover: %+v, want one", got)
	}

	// a's lease for it would have ended by now: it no longer holds it, nothing is deleted.
	if err := a.Expire(ctx, time.Now().Add(3*testLease)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Fatalf("a's lease sweep left %d of 6 subscriptions", n)
	}
	// b's lease ends: b ends the session and deletes them.
	b.SocketClosed(s.ID)
	if err := b.Expire(ctx, time.Now().Add(3*testLease)); err != nil {
		t.Fatal(err)
	}
	for id := range before {
		e.waitGone(id)
	}
}
