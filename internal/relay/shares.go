package relay

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// shared is one Twitch subscription and the live sessions that reference it. Twitch allows
// at most 3 webhook subscriptions with the same type, version and condition per app, so
// the sessions of a Manager share one per (type, version, condition). It keeps the callback
// and secret of the session that created it (creator), even after that session ends: its
// callbacks are then accepted for the remaining references. It is deleted in Twitch when the
// last reference drops. Every field is guarded by m.mu.
type shared struct {
	id      string // Twitch's id; "" while the create is in flight
	key     string // shareKey of its type and condition
	typ     string
	cond    eventsub.Condition // its condition (never modified)
	creator string             // the session id in its callback URL
	status  string             // a feed status, mirrored into every referencing session's typeState
	reason  string
	// verifiedBy is the message id of the challenge that made it active: Twitch resends that
	// message when our answer was lost, and it is answered again.
	verifiedBy string
	refs       map[string]*session // by session id

	transport string // eventsub.TransportWebSocket, or webhook ("" after a Reconcile)
	userID    string // websocket: the user whose Twitch session it is on
	wsSession string // websocket: that Twitch session's id
}

// shareKey identifies a subscription by type, version and condition.
func shareKey(typ string, cond eventsub.Condition) string {
	var b strings.Builder
	b.WriteString(typ + "\x00" + eventsub.Version(typ))
	for _, k := range slices.Sorted(maps.Keys(cond)) {
		b.WriteString("\x00" + k + "=" + cond[k])
	}
	return b.String()
}

// usable reports whether a subscription in this status can still deliver (or soon will).
func usable(status string) bool { return status == StatusActive || status == StatusPending }

// attach makes ss reference sh for typ. Caller holds m.mu.
func (m *Manager) attach(ss *session, typ string, sh *shared) {
	st := ss.types[typ]
	st.sh, st.status, st.reason = sh, sh.status, sh.reason
	sh.refs[ss.s.ID] = ss
}

// register makes sh known by id (if it has one) and, unless another usable subscription
// already serves its key, the one new sessions join. Caller holds m.mu.
func (m *Manager) register(sh *shared) {
	if sh.id != "" {
		m.subs[sh.id] = sh
	}
	if cur := m.shares[sh.key]; cur == nil || cur == sh || !usable(cur.status) {
		if usable(sh.status) {
			m.shares[sh.key] = sh
		}
	}
}

// forget removes sh from the maps. Caller holds m.mu.
func (m *Manager) forget(sh *shared) {
	if m.shares[sh.key] == sh {
		delete(m.shares, sh.key)
	}
	if sh.id != "" && m.subs[sh.id] == sh {
		delete(m.subs, sh.id)
	}
}

// unref drops the reference of session sid to sh. It returns the id to delete in Twitch when
// that was the last reference ("" while the create is in flight: its end deletes it).
// Caller holds m.mu.
func (m *Manager) unref(sh *shared, sid string) string {
	delete(sh.refs, sid)
	if len(sh.refs) > 0 {
		return ""
	}
	m.forget(sh)
	return sh.id
}

// adoptShare returns the in-memory share of a subscription listed in Twitch, registering it
// if it is new. Caller holds m.mu.
func (m *Manager) adoptShare(sub eventsub.Subscription) *shared {
	if sh := m.subs[sub.ID]; sh != nil {
		return sh
	}
	sid, _ := strings.CutPrefix(sub.Transport.Callback, m.prefix)
	status, reason := twitchStatus(sub.Status)
	sh := &shared{id: sub.ID, key: shareKey(sub.Type, sub.Condition), typ: sub.Type, cond: maps.Clone(sub.Condition), creator: sid,
		status: status, reason: reason, refs: map[string]*session{}}
	m.register(sh)
	if status == StatusPending { // its challenge may have been lost while we were down
		m.watchVerification(sh)
	}
	return sh
}

// setShareStatus sets a subscription's status ("": keep its current one) in every
// referencing session, tells each its feed statuses and stores the status in each session's
// record. With forget (the subscription is gone: revoked or failed) the references are
// dropped too.
func (m *Manager) setShareStatus(ctx context.Context, sh *shared, status, reason string, forget bool) {
	m.mu.Lock()
	if status != "" {
		sh.status, sh.reason = status, reason
	}
	status, reason = sh.status, sh.reason
	refs := slices.Collect(maps.Values(sh.refs))
	for _, ss := range refs {
		st := ss.types[sh.typ]
		if st.sh != sh {
			continue
		}
		st.status, st.reason = status, reason
		if forget {
			st.sh = nil
		}
	}
	if forget {
		m.forget(sh)
		clear(sh.refs)
	}
	id := sh.id
	m.mu.Unlock()
	if !forget && id != "" && status == StatusActive && m.registered(sh.typ) {
		if err := m.cfg.Registry.SetStatus(ctx, id, status); err != nil {
			m.hookError("registry status", err)
		}
	}
	for _, ss := range refs {
		if !forget && id != "" {
			m.storeSub(ctx, ss.s.ID, id, sh.typ, status)
		}
		m.publish(ss)
	}
}

// createdSignal wakes challenges waiting for a create to return. Caller holds m.mu.
func (m *Manager) createdSignal() {
	close(m.created)
	m.created = make(chan struct{})
}
