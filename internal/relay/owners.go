package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Owners decides which instance runs a session's state machine (its lease timer, the
// following-poller, the deletes when it ends, the verification watchdogs of what it created)
// when several instances share Redis; internal/lock's Claims implements it. Nil: this
// process owns every session (one instance).
//
// The rules: an instance holds a session in memory only while it holds the session's claim,
// renewed every ClaimEvery. An instance that has a session's socket but not its claim asks the
// holder to hand it over; the holder lets go if it has none of the session's sockets itself,
// and the asker claims and adopts it from the store (its subscriptions kept as they are in
// Twitch) in the next round. A holder that dies stops renewing: the instance with the socket
// takes over after the claim's TTL, and a session nobody has a socket for is adopted by the
// first instance whose sweep finds it unclaimed, so its lease still ends and its
// subscriptions are still deleted. A lease that ends is acted on only after renewing the
// claim: if another instance holds it, this one forgets the session without deleting
// anything.
type Owners interface {
	// Claim makes this instance the session's owner, or renews its claim; ok is false while
	// another instance holds it.
	Claim(ctx context.Context, sid string) (ok bool, err error)
	// Drop gives the claim up (the session ended here or another instance took it).
	Drop(ctx context.Context, sid string)
	// Handover asks whichever instance holds the session to let it go (Manager.Handover
	// there), because this one has its socket now.
	Handover(ctx context.Context, sid string) error
}

// DefaultClaimEvery is how often claims are renewed, and taken over for sockets held here.
const DefaultClaimEvery = 2 * time.Second

// ErrOwnedElsewhere: another instance runs this session's state machine; this one's socket
// still receives its events (through the broker), and this instance takes the session over
// when the other lets it go.
var ErrOwnedElsewhere = errors.New("relay: session owned by another instance")

// runClaims renews the claims of the sessions this instance has sockets for, takes over those
// it has sockets for but does not hold, and forgets those another instance took; until ctx
// ends.
func (m *Manager) runClaims(ctx context.Context) {
	every := m.cfg.ClaimEvery
	if every <= 0 {
		every = DefaultClaimEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.renewClaims(ctx)
		}
	}
}

// renewClaims is one round of runClaims.
func (m *Manager) renewClaims(ctx context.Context) {
	m.mu.Lock()
	ids := make(map[string]bool, len(m.sockets)+len(m.sessions))
	for id, n := range m.sockets {
		if n > 0 {
			ids[id] = true
		}
	}
	for id := range m.sessions {
		if _, ok := ids[id]; !ok {
			ids[id] = false
		}
	}
	m.mu.Unlock()
	for id, socket := range ids {
		ok, err := m.cfg.Owners.Claim(ctx, id)
		if err != nil {
			m.hookError("claim", err)
			continue // Redis trouble: keep what we hold, try again next round
		}
		m.mu.Lock()
		held := m.sessions[id] != nil
		m.mu.Unlock()
		switch {
		case ok && !held:
			m.takeOver(ctx, id)
		case !ok && held:
			m.forgetLocal(ctx, id, "claimed by another instance")
		case !ok && socket:
			if err := m.cfg.Owners.Handover(ctx, id); err != nil {
				m.hookError("handover", err)
			}
		}
	}
}

// Handover lets another instance have session sid, unless a socket of it is open here: the
// session is forgotten here (nothing deleted) and its claim dropped. The broker calls it when
// another instance asks.
func (m *Manager) Handover(sid string) {
	if m.cfg.Owners == nil {
		return
	}
	m.goBackground(func(ctx context.Context) {
		m.mu.Lock()
		busy := m.sockets[sid] > 0
		held := m.sessions[sid] != nil
		m.mu.Unlock()
		if busy || !held {
			return
		}
		m.forgetLocal(ctx, sid, "handed over to the instance with its socket")
		m.mu.Lock()
		still := m.sessions[sid] == nil && m.sockets[sid] == 0
		m.mu.Unlock()
		if still {
			m.cfg.Owners.Drop(ctx, sid)
		}
	})
}

// adoptOrphans adopts every stored session no instance holds (its owner died with no socket
// open, or before its lease ended), so that its lease still runs somewhere.
func (m *Manager) adoptOrphans(ctx context.Context) {
	recs, err := m.cfg.Store.List(ctx)
	if err != nil {
		m.hookError("store list", err)
		return
	}
	for _, rec := range recs {
		m.mu.Lock()
		held := m.sessions[rec.SessionID] != nil
		m.mu.Unlock()
		if held {
			continue
		}
		ok, err := m.cfg.Owners.Claim(ctx, rec.SessionID)
		if err != nil || !ok {
			continue
		}
		m.log.Info("adopting a session no instance holds", "session", shortID(rec.SessionID))
		if err := m.adoptOne(ctx, rec); err != nil {
			m.log.Warn("adopt orphaned session", "session", shortID(rec.SessionID), "err", err)
		}
	}
}

// takeOver adopts a session from the store after claiming it: its subscriptions are kept
// as they are in Twitch (nothing created twice), missing ones created again.
func (m *Manager) takeOver(ctx context.Context, sid string) {
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	if err != nil || !ok { // nothing to adopt: the socket's next stream_connected subscribes afresh
		m.log.Info("take over session: no record", "session", shortID(sid), "err", err)
		return
	}
	if err := m.adoptOne(ctx, rec); err != nil {
		m.log.Warn("take over session", "session", shortID(sid), "err", err)
	}
}

// adoptOne adopts one stored session (as Reconcile does at start-up), matching it with the
// subscriptions Twitch lists for this app.
func (m *Manager) adoptOne(ctx context.Context, rec store.Record) error {
	p, err := m.planOne(ctx, rec)
	if err != nil {
		return err
	}
	return m.adopt(ctx, rec, p)
}

func (m *Manager) planOne(ctx context.Context, rec store.Record) (adoptPlan, error) {
	subs, err := m.cfg.Helix.ListSubscriptions(ctx, helix.ListFilter{})
	if err != nil {
		return adoptPlan{}, err
	}
	var ours []eventsub.Subscription
	for _, sub := range subs {
		if sid, ok := strings.CutPrefix(sub.Transport.Callback, m.prefix); ok && sid != "" {
			ours = append(ours, sub)
		}
	}
	m.mu.Lock()
	used := map[string]bool{}
	for id, sh := range m.subs {
		if len(sh.refs) > 0 {
			used[id] = true
		}
	}
	m.mu.Unlock()
	// What the session itself recorded may be shared with sessions held here: those are
	// not "used" for its own plan.
	for id := range rec.Subs {
		delete(used, id)
	}
	return planAdoption(rec, ours, used), nil
}

// forgetLocal drops a session from memory without deleting anything in Twitch or the store:
// another instance owns it now.
func (m *Manager) forgetLocal(ctx context.Context, sid, why string) {
	unlock, err := m.lockSession(ctx, sid)
	if err != nil {
		return
	}
	defer unlock()
	m.mu.Lock()
	ss := m.sessions[sid]
	if ss != nil {
		delete(m.sessions, sid)
		if ss.pollStop != nil {
			ss.pollStop()
		}
		for _, st := range ss.types {
			if st.sh == nil {
				continue
			}
			delete(st.sh.refs, sid)
			if len(st.sh.refs) == 0 {
				m.forget(st.sh)
			}
		}
	}
	m.mu.Unlock()
	if ss != nil {
		m.log.Info("session handed over", "session", shortID(sid), "reason", why)
	}
}

// claimForEnd claims a session whose lease ended before it is ended here; false means
// another instance owns it (it was forgotten here) or Redis could not say (try later).
func (m *Manager) claimForEnd(ctx context.Context, sid string) bool {
	if m.cfg.Owners == nil {
		return true
	}
	ok, err := m.cfg.Owners.Claim(ctx, sid)
	if err != nil {
		m.hookError("claim", err)
		return false
	}
	if !ok {
		m.forgetLocal(ctx, sid, "lease ended here, owned by another instance")
	}
	return ok
}

// adoptStored is sessionFor's take-over: a live stored record of the same user and streamer
// (left by an instance that died, restarted or let it go) is adopted with its subscriptions;
// nil when there is none. Caller holds the session's op lock.
func (m *Manager) adoptStored(ctx context.Context, s Session) (*session, error) {
	rec, ok, err := m.cfg.Store.Load(ctx, s.ID)
	if err != nil {
		m.hookError("store load", err)
		return nil, fmt.Errorf("relay: load session %s: %w", shortID(s.ID), err)
	}
	now := m.cfg.Now()
	if !ok || rec.UserID != s.UserID || rec.Streamer.ID != s.Streamer.ID || (!rec.LeaseUntil.IsZero() && !now.Before(rec.LeaseUntil)) {
		return nil, nil
	}
	p, err := m.planOne(ctx, rec)
	if err != nil {
		return nil, err
	}
	if err := m.adoptLocked(ctx, rec, p); err != nil {
		m.log.Warn("adopt session", "session", shortID(s.ID), "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ss := m.sessions[s.ID]
	if ss != nil {
		ss.s.UserToken = s.UserToken
		if s.UserLogin != "" {
			ss.s.UserLogin = s.UserLogin
		}
		if s.Streamer.Login != "" {
			ss.s.Streamer = s.Streamer
		}
	}
	return ss, nil
}

// verifiedElsewhere watches, for up to d, the record of sh's creator for another instance's
// answer to its challenge (the challenge reached that instance: it stored the subscription
// active), and makes sh active when it sees it. It reports whether it did, or whether sh is
// no longer pending.
func (m *Manager) verifiedElsewhere(ctx context.Context, sh *shared, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(verifiedPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-deadline.C:
			return false
		case <-tick.C:
		}
		id, pending := m.stillPending(sh)
		if !pending {
			return true
		}
		m.mu.Lock()
		creator := sh.creator
		m.mu.Unlock()
		rec, ok, err := m.cfg.Store.Load(ctx, creator)
		if err != nil || !ok {
			continue
		}
		if o, ok := rec.Subs[id]; ok && o.Status == StatusActive {
			m.log.Info("subscription verified by another instance", "subscription_id", id, "event_type", sh.typ)
			m.setShareStatus(ctx, sh, StatusActive, "", false)
			return true
		}
	}
}
