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
// The rules: an instance holds a session in memory only while it holds the session's claim.
// It renews the claim every ClaimEvery while it has a socket of the session open, and lets it
// lapse otherwise, so that an instance that has the session's socket now can take it over
// (within the claim's TTL plus ClaimEvery) and adopt it from the store. A lease that ends is
// acted on only after claiming the session again: if another instance holds it, this one
// forgets the session without deleting anything.
type Owners interface {
	// Claim makes this instance the session's owner, or renews its claim; ok is false while
	// another instance holds it.
	Claim(ctx context.Context, sid string) (ok bool, err error)
	// Drop gives the claim up (the session ended here or another instance took it).
	Drop(ctx context.Context, sid string)
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
	ids := make([]string, 0, len(m.sockets))
	for id, n := range m.sockets {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
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
		}
	}
}

// takeOver adopts a session from the store after claiming it: its subscriptions are kept
// as they are in Twitch (nothing created twice), missing ones created again.
func (m *Manager) takeOver(ctx context.Context, sid string) {
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	if err != nil || !ok {
		return // nothing to adopt: the socket's next stream_connected subscribes afresh
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
