package relay

import (
	"context"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Handing a user over between instances, and the sockets other instances have of the
// sessions this one runs.

// remoteFresh is how long another instance's word that it has a socket of a session holds:
// it repeats it every claim round.
func (m *Manager) remoteFresh() time.Duration { return 3 * m.claimEvery() }

// askHolder tells the holder of userID's claim about each session of the user with a socket
// here: it runs them, and lets the user go if it has no socket of the user itself.
func (m *Manager) askHolder(ctx context.Context, userID string) {
	m.mu.Lock()
	var sids []string
	for id, s := range m.own.live {
		if s.UserID == userID && m.sockets[id] > 0 {
			sids = append(sids, id)
		}
	}
	m.mu.Unlock()
	for _, sid := range sids {
		if err := m.cfg.Owners.Handover(ctx, handoverKey(userID, sid)); err != nil {
			m.hookError("handover", err)
			return
		}
	}
}

// letGoUser forgets every session of userID held here (nothing deleted: another instance
// runs them now) and closes the user's Twitch WebSocket session here.
func (m *Manager) letGoUser(ctx context.Context, userID, why string) {
	m.mu.Lock()
	ids := m.heldOfLocked(userID)
	m.mu.Unlock()
	for _, sid := range ids {
		m.forgetLocal(ctx, sid, why)
	}
	m.closeUnusedWS(userID)
}

// dropUserIfIdle gives up userID's claim when no session of the user is held here and no
// socket of theirs is open here.
func (m *Manager) dropUserIfIdle(ctx context.Context, userID string) {
	if m.cfg.Owners == nil || userID == "" {
		return
	}
	m.mu.Lock()
	idle := len(m.heldOfLocked(userID)) == 0 && !m.userSocketsLocked(userID)
	if idle {
		delete(m.own.owned, userID)
	}
	m.mu.Unlock()
	if idle {
		m.cfg.Owners.Drop(ctx, userKey(userID))
	}
}

// Handover is another instance's word (Owners.Handover) that it has a socket of a session of
// a user this one may own. The session's lease does not run here meanwhile. If this instance
// has a socket of the user itself, it keeps the user and runs that session too; otherwise it
// lets the user go (forgets their sessions, closes their Twitch WebSocket session, drops the
// claim) for the asker to take over. The broker calls it.
func (m *Manager) Handover(key string) {
	h, ok := parseHandover(key)
	if m.cfg.Owners == nil || !ok {
		return
	}
	userID, sid := h.userID, h.sid
	if h.end {
		m.goBackground(func(ctx context.Context) { m.endForOther(ctx, sid, h.streamerID) })
		return
	}
	m.goBackground(func(ctx context.Context) {
		m.mu.Lock()
		if sid != "" {
			m.own.remote[sid] = m.cfg.Now()
		}
		busy := m.userSocketsLocked(userID)
		owner := m.own.owned[userID] || len(m.heldOfLocked(userID)) > 0
		m.mu.Unlock()
		switch {
		case !owner:
		case busy:
			if sid != "" {
				m.adoptFor(ctx, userID, sid)
			}
		default:
			m.letGoUser(ctx, userID, "handed over to the instance with its socket")
			m.dropUserIfIdle(ctx, userID)
		}
	})
}

// remoteLeasesLocked keeps the lease of a session held here from ending while another
// instance has a socket of it: it ends no earlier than a lease after that instance last said
// so. Caller holds m.mu.
func (m *Manager) remoteLeasesLocked() {
	for id, at := range m.own.remote {
		ss := m.sessions[id]
		if ss == nil || m.sockets[id] > 0 {
			continue
		}
		if until := at.Add(m.cfg.Lease); ss.leaseUntil.Before(until) {
			ss.leaseUntil, ss.dirty = until, true
		}
	}
}

// pruneRemote forgets remote sockets not heard of for longer than a lease, and takeovers
// older than takeoverWindow.
func (m *Manager) pruneRemote() {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, at := range m.own.remote {
		if now.Sub(at) > m.cfg.Lease+m.remoteFresh() {
			delete(m.own.remote, id)
		}
	}
	for uid, tk := range m.own.takeover {
		if now.Sub(tk.at) > takeoverWindow {
			delete(m.own.takeover, uid)
		}
	}
}

// saveForOwner stores a minimal record of s (no subscriptions) for the owner of its user to
// adopt, when none is stored or the stored one watches another streamer (a streamer change
// made here).
func (m *Manager) saveForOwner(ctx context.Context, s Session) error {
	rec, ok, err := m.cfg.Store.Load(ctx, s.ID)
	if err != nil {
		return err
	}
	if ok && rec.UserID == s.UserID && rec.Streamer.ID == s.Streamer.ID {
		return nil
	}
	return m.cfg.Store.Save(ctx, store.Record{SessionID: s.ID, UserID: s.UserID, UserLogin: s.UserLogin,
		Streamer: store.Streamer(s.Streamer)}, m.storeTTL())
}

// endForOther ends session sid held here because another instance ended it (a logout or a
// streamer change there): that instance deleted its record and the subscriptions the record
// names; this one drops what it runs for it (the poller, its references, the websocket
// subscriptions on the user's Twitch session here). The record is left alone: it may already
// be the session's next one (its new streamer). A session that watches another streamer by
// now is not the one that ended.
func (m *Manager) endForOther(ctx context.Context, sid, streamerID string) {
	unlock, err := m.lockSession(ctx, sid)
	if err != nil {
		return
	}
	defer unlock()
	m.mu.Lock()
	ss := m.sessions[sid]
	m.mu.Unlock()
	if ss == nil || ss.s.Streamer.ID != streamerID {
		return
	}
	if err := m.endHere(ctx, sid, "ended on another instance", false); err != nil {
		m.log.Warn("end session for another instance", "session", shortID(sid), "err", err)
	}
}
