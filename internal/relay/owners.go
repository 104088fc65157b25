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

// Owners decides which instance runs the state machine of a Twitch user's relay sessions
// (their lease timers, following-pollers, deletes when they end, the verification watchdogs
// of what they created, and the user's one Twitch WebSocket session with every websocket
// subscription of the user) when several instances share Redis; internal/lock's Claims
// implements it. Nil: this process owns every session (one instance).
//
// Ownership is per user (owners_user.go): the claim key is userKey(user id), so all the
// relay sessions of one user are run by one instance at a time, which keeps the user's
// single Twitch WebSocket session. An instance holds a user's sessions in memory only while
// it holds the user's claim, renewed every ClaimEvery. An instance with a socket of one of
// the user's sessions but not the claim tells the holder so every round (Handover with
// handoverKey(user, session)): the holder runs that session too (its socket gets the events
// through the broker) and keeps its lease from running; it lets the user go only when it has
// no socket of any of the user's sessions itself, closing its Twitch WebSocket session, and
// the asker claims the user and adopts all the user's sessions from the store in its next
// round, subscribing the user's websocket feeds on its own Twitch session at once, with an
// events_missing frame for the span it cannot prove. A holder that dies stops renewing: an
// instance with a socket of the user takes over after the claim's TTL, and a user nobody has
// a socket of is adopted by the first instance whose sweep finds the sessions unclaimed, so
// their leases still end and their subscriptions are still deleted. A lease that ends is
// acted on only after renewing the claim: if another instance holds it, this one forgets the
// session without deleting anything.
type Owners interface {
	// Claim makes this instance the owner of key (userKey), or renews its claim; ok is false
	// while another instance holds it.
	Claim(ctx context.Context, key string) (ok bool, err error)
	// Drop gives the claim up (nothing of the user is left here, or another instance took it).
	Drop(ctx context.Context, key string)
	// Handover tells whichever instance holds the user's claim that this one has a socket of
	// one of the user's sessions (key is handoverKey; Manager.Handover there).
	Handover(ctx context.Context, key string) error
}

// DefaultClaimEvery is how often claims are renewed, and taken over for sockets held here.
const DefaultClaimEvery = 2 * time.Second

// DefaultClaimTTL is the claims' lease when Config.ClaimTTL is 0 (lock.DefaultClaimTTL).
const DefaultClaimTTL = 6 * time.Second

// ErrOwnedElsewhere: another instance runs the sessions of this session's user; this one's
// socket still receives its events (through the broker), and this instance takes the user
// over when the other lets it go or dies.
var ErrOwnedElsewhere = errors.New("relay: session owned by another instance")

// runClaims runs renewClaims every ClaimEvery until ctx ends.
func (m *Manager) runClaims(ctx context.Context) {
	t := time.NewTicker(m.claimEvery())
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

func (m *Manager) claimEvery() time.Duration {
	if m.cfg.ClaimEvery > 0 {
		return m.cfg.ClaimEvery
	}
	return DefaultClaimEvery
}

func (m *Manager) claimTTL() time.Duration {
	if m.cfg.ClaimTTL > 0 {
		return m.cfg.ClaimTTL
	}
	return DefaultClaimTTL
}

// adoptOrphans adopts every stored session no instance holds (the owner of its user died
// with no socket of the user open anywhere, or before its lease ended), so that its lease
// still runs somewhere.
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
		if held || rec.UserID == "" {
			continue
		}
		ok, err := m.cfg.Owners.Claim(ctx, userKey(rec.UserID))
		if err != nil || !ok {
			continue
		}
		m.mu.Lock()
		m.own.owned[rec.UserID] = true
		m.mu.Unlock()
		m.log.Info("adopting a session no instance holds", "session", shortID(rec.SessionID), "user_id", rec.UserID)
		if err := m.adoptOne(ctx, rec); err != nil {
			m.log.Warn("adopt orphaned session", "session", shortID(rec.SessionID), "err", err)
		}
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

// claimForEnd renews the claim of the user of a session whose lease ended before it is
// ended here; false means another instance owns the user (the session was forgotten here),
// the session is not held here, or Redis could not say (try later).
func (m *Manager) claimForEnd(ctx context.Context, sid string) bool {
	if m.cfg.Owners == nil {
		return true
	}
	m.mu.Lock()
	ss := m.sessions[sid]
	m.mu.Unlock()
	if ss == nil {
		return false
	}
	ok, err := m.cfg.Owners.Claim(ctx, userKey(ss.s.UserID))
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
	// Its websocket feeds are made again on this instance's Twitch session with the user's
	// token; in a takeover, the span since the last owner was last known alive is owed to
	// the page once they are (subscribeFeeds).
	p.who = &s
	m.noteGap(s.ID, s.UserID)
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
