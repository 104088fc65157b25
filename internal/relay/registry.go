package relay

import (
	"context"
	"slices"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Registry is the instances' common list of shared webhook subscriptions, so that a
// subscription with a given type, version and condition exists once in Twitch however many
// instances have sessions referencing it (Twitch refuses a 4th identical one, and 3 would
// waste events). internal/lock's Shares implements it on Redis.
//
// The rules: a session that needs (type, condition) and finds no usable subscription in this
// instance's memory takes the key's lock, joins the registered subscription if there is one
// (its id, creator and status as registered) and otherwise creates it in Twitch and registers
// it, still under the lock, so a second instance waits and joins instead of creating. Every
// session referencing it is in its reference set. A session that ends leaves it under the
// same lock; the one that leaves it with no reference anywhere deletes it in Twitch. A
// notification of a registered subscription goes to every referencing session, wherever its
// socket is (the hub's broker carries it), also after its creator has ended. A revoked or
// never verified subscription is forgotten, so the next subscribe creates it again.
type Registry interface {
	// Lock holds key's lock until unlock is called; it waits (bounded) while another
	// instance holds it.
	Lock(ctx context.Context, key string) (unlock func(), err error)
	// Find returns the subscription registered for key.
	Find(ctx context.Context, key string) (sub Registered, ok bool, err error)
	// Join registers sub for key (when it is not yet: caller holds key's lock) and adds sids
	// to its references.
	Join(ctx context.Context, key string, sub Registered, sids ...string) error
	// Leave drops sid's reference to subscription id, under its key's lock; last reports that
	// nobody references it any more, or that it was never registered: the caller deletes it
	// in Twitch. A last one is forgotten.
	Leave(ctx context.Context, id, sid string) (last bool, err error)
	// Refs returns the sessions that reference subscription id (none: not registered).
	Refs(ctx context.Context, id string) ([]string, error)
	// Forget removes subscription id (revoked, or never verified).
	Forget(ctx context.Context, id string) error
	// SetStatus records subscription id's feed status (it turned active), so that later
	// joiners need not wait for its challenge.
	SetStatus(ctx context.Context, id, status string) error
}

// Registered is a registry entry (store.SharedSub).
type Registered = store.SharedSub

// registered reports whether subscriptions of typ go through the registry.
func (m *Manager) registered(typ string) bool {
	return m.cfg.Registry != nil && m.transportOf(typ) != eventsub.TransportWebSocket
}

// joinRegistered, under key's registry lock, makes ss reference the subscription another
// instance registered for key, as a local share; false when none is registered and usable
// (the caller creates it, still under the lock).
func (m *Manager) joinRegistered(ctx context.Context, ss *session, typ, key string) bool {
	reg, ok, err := m.cfg.Registry.Find(ctx, key)
	if err != nil {
		m.hookError("registry find", err)
		return false
	}
	if !ok || !usable(reg.Status) {
		return false
	}
	s := ss.s
	if err := m.cfg.Registry.Join(ctx, key, reg, s.ID); err != nil {
		m.hookError("registry join", err)
		return false
	}
	m.mu.Lock()
	if m.sessions[s.ID] != ss { // ended meanwhile
		m.mu.Unlock()
		m.leaveRegistered(ctx, reg.ID, s.ID)
		return true
	}
	sh := m.subs[reg.ID]
	if sh == nil || !usable(sh.status) {
		sh = &shared{id: reg.ID, key: key, typ: typ, cond: condition(typ, s), creator: reg.Creator,
			status: reg.Status, refs: map[string]*session{}, transport: m.transportOf(typ), userID: s.UserID}
		m.register(sh)
	}
	m.attach(ss, typ, sh)
	status := sh.status
	m.mu.Unlock()
	m.storeSub(ctx, s.ID, reg.ID, typ, status)
	m.log.Info("subscription joined from another instance", "session", shortID(s.ID), "event_type", typ, "subscription_id", reg.ID, "status", status)
	m.publish(ss)
	if status == StatusPending { // its challenge may be answered anywhere, or never
		m.watchVerification(sh)
	}
	return true
}

// leaveRegistered drops sid's reference to id in the registry; it reports whether id is
// to be deleted in Twitch (nobody references it any more). Redis trouble: it is kept (a
// duplicate is recoverable, another session's lost feed is not); Reconcile deletes what
// no record references.
func (m *Manager) leaveRegistered(ctx context.Context, id, sid string) bool {
	last, err := m.cfg.Registry.Leave(ctx, id, sid)
	if err != nil {
		m.hookError("registry leave", err)
		return false
	}
	return last
}

// registeredReceivers adds to 'to' the sessions that reference sub in the registry.
func (m *Manager) registeredReceivers(ctx context.Context, sub eventsub.Subscription, to []string) ([]string, error) {
	refs, err := m.cfg.Registry.Refs(ctx, sub.ID)
	if err != nil {
		m.hookError("registry refs", err)
		return to, err
	}
	for _, id := range refs {
		if !slices.Contains(to, id) {
			to = append(to, id)
		}
	}
	slices.Sort(to)
	return to, nil
}

// forgetRegistered removes id from the registry, best effort.
func (m *Manager) forgetRegistered(ctx context.Context, id string) {
	if m.cfg.Registry == nil || id == "" {
		return
	}
	if err := m.cfg.Registry.Forget(ctx, id); err != nil {
		m.hookError("registry forget", err)
	}
}
