package relay

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// ownership is what an instance knows of the user claims (Owners): which users it owns, the
// sessions it has sockets of, and the sockets other instances have of sessions it runs.
// Guarded by Manager.mu.
type ownership struct {
	live     map[string]Session   // by session id, while a socket of it is open here: the Session it brought (token, scopes)
	owned    map[string]bool      // users whose claim this instance held at its last round
	seenHeld map[string]time.Time // user → when its claim was last seen held by another instance
	remote   map[string]time.Time // session id → when another instance last said it has a socket of it
	adopting map[string]bool      // session ids being adopted now
	takeover map[string]takeover  // user → the takeover of their sessions by this instance, while it runs
	gaps     map[string]time.Time // session id → start of the events_missing frame it is owed once subscribed
}

// takeover is this instance claiming a user another instance (or nobody) held: the stored
// sessions of the user adopted while it runs are owed an events_missing frame from from.
type takeover struct {
	from, at time.Time
}

func newOwnership() ownership {
	return ownership{live: map[string]Session{}, owned: map[string]bool{}, seenHeld: map[string]time.Time{},
		remote: map[string]time.Time{}, adopting: map[string]bool{}, takeover: map[string]takeover{}, gaps: map[string]time.Time{}}
}

// userKey is the claim key of a Twitch user's sessions (lock:claim:user:<id> in Redis).
func userKey(userID string) string { return "user:" + userID }

// handoverKey is what Handover carries: the user, and the session a socket is open of.
func handoverKey(userID, sid string) string { return userKey(userID) + "/" + sid }

// parseHandover is handoverKey's inverse (sid "" if the message named only the user).
func parseHandover(key string) (userID, sid string, ok bool) {
	rest, ok := strings.CutPrefix(key, "user:")
	if !ok || rest == "" {
		return "", "", false
	}
	userID, sid, _ = strings.Cut(rest, "/")
	return userID, sid, userID != ""
}

// takeoverWindow is how long after claiming a user its stored sessions adopted count as
// taken over (their adoption may wait on Twitch's rate limits).
const takeoverWindow = wsResubscribeTimeout

// remoteFresh is how long another instance's word that it has a socket of a session holds:
// it repeats it every claim round.
func (m *Manager) remoteFresh() time.Duration { return 3 * m.claimEvery() }

// gapStart is where an events_missing frame of a takeover of userID starts: the last moment
// the previous owner is known to have been alive. Its claim was seen held at seenHeld, so it
// renewed it at most a claim TTL before; never seen, at most a TTL and a round ago (the
// instance saw it unclaimed at its first try; a claim that lapsed while no instance looked
// cannot be dated better).
func (m *Manager) gapStart(userID string) time.Time {
	m.mu.Lock()
	seen, ok := m.own.seenHeld[userID]
	m.mu.Unlock()
	if ok {
		return seen.Add(-m.claimTTL())
	}
	return m.cfg.Now().Add(-m.claimTTL() - m.claimEvery())
}

// claimedUser is sessionFor's claim of userID: if this instance did not own the user yet, it
// takes the user over (their other stored sessions adopted in the background).
func (m *Manager) claimedUser(userID string) {
	m.mu.Lock()
	was := m.own.owned[userID]
	m.own.owned[userID] = true
	m.mu.Unlock()
	if !was {
		m.takeOverUser(m.ctx, userID)
	}
}

// startTakeover dates the takeover of userID's sessions.
func (m *Manager) startTakeover(userID string) {
	from := m.gapStart(userID)
	m.mu.Lock()
	m.own.takeover[userID] = takeover{from: from, at: m.cfg.Now()}
	m.mu.Unlock()
}

// noteGap marks session sid of userID, adopted from the store, as owed an events_missing
// frame if the adoption is part of a takeover: its websocket feeds ran on the previous
// owner's Twitch session, and Twitch replays nothing.
func (m *Manager) noteGap(sid, userID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tk, ok := m.own.takeover[userID]
	if !ok || m.cfg.Now().Sub(tk.at) > takeoverWindow || m.cfg.WebSockets == nil {
		return
	}
	for _, typ := range subscribedTypes {
		if m.transportOf(typ) == eventsub.TransportWebSocket {
			m.own.gaps[sid] = tk.from
			return
		}
	}
}

// sendGap sends session sid the events_missing frame noteGap marked it for, now that its
// feeds are subscribed.
func (m *Manager) sendGap(sid string) {
	m.mu.Lock()
	from, ok := m.own.gaps[sid]
	delete(m.own.gaps, sid)
	m.mu.Unlock()
	if ok {
		until := m.cfg.Now()
		m.eventsMissing(sid, from, until, reasonMovedInstance)
		m.log.Info("events may be missing after a takeover", "session", shortID(sid), "gap", until.Sub(from).Round(time.Millisecond))
	}
}

// noteLive remembers the Session a socket here brought (subscribeFeeds), while it is open.
func (m *Manager) noteLive(s Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sockets[s.ID] > 0 {
		m.own.live[s.ID] = s
	}
}

// userSocketsLocked reports whether a socket of any session of userID is open here. Caller
// holds m.mu.
func (m *Manager) userSocketsLocked(userID string) bool {
	for id, ss := range m.sessions {
		if ss.s.UserID == userID && m.sockets[id] > 0 {
			return true
		}
	}
	for id, s := range m.own.live {
		if s.UserID == userID && m.sockets[id] > 0 {
			return true
		}
	}
	return false
}

// heldOfLocked is the ids of the sessions of userID held here. Caller holds m.mu.
func (m *Manager) heldOfLocked(userID string) []string {
	var ids []string
	for id, ss := range m.sessions {
		if ss.s.UserID == userID {
			ids = append(ids, id)
		}
	}
	return ids
}

// renewClaims is one round of runClaims: for every user with a session held here or a socket
// open here, the user's claim is renewed or taken. A user claimed anew is taken over (all
// their sessions adopted from the store); a user another instance holds is forgotten here,
// and told about the sockets open here.
func (m *Manager) renewClaims(ctx context.Context) {
	m.mu.Lock()
	users := map[string]bool{} // user → a socket of theirs is open here
	for id, ss := range m.sessions {
		users[ss.s.UserID] = users[ss.s.UserID] || m.sockets[id] > 0
	}
	for id, s := range m.own.live {
		users[s.UserID] = users[s.UserID] || m.sockets[id] > 0
	}
	for uid := range m.own.owned {
		users[uid] = users[uid] || false
	}
	m.mu.Unlock()
	for uid, socket := range users {
		ok, err := m.cfg.Owners.Claim(ctx, userKey(uid))
		if err != nil {
			m.hookError("claim", err)
			continue // Redis trouble: keep what we hold, try again next round
		}
		m.mu.Lock()
		was := m.own.owned[uid]
		held := len(m.heldOfLocked(uid))
		if ok {
			m.own.owned[uid] = true
		} else {
			delete(m.own.owned, uid)
			m.own.seenHeld[uid] = m.cfg.Now()
		}
		m.mu.Unlock()
		switch {
		case ok && !socket && held == 0:
			m.dropUserIfIdle(ctx, uid) // nothing of the user is left here
		case ok && !was:
			m.takeOverUser(ctx, uid)
		case ok:
			m.adoptLive(uid) // sockets here of sessions not held yet (a fresh page)
		default:
			if held > 0 {
				m.letGoUser(ctx, uid, "claimed by another instance")
			}
			if socket {
				m.askHolder(ctx, uid)
			}
		}
	}
	m.pruneRemote()
}

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

// takeOverUser adopts, in the background, every stored session of userID and every session
// of theirs with a socket here: this instance now owns the user. If another instance was
// seen holding the user, or sessions of theirs are stored, it is a takeover: the stored
// sessions adopted are owed an events_missing frame (noteGap).
func (m *Manager) takeOverUser(ctx context.Context, userID string) {
	recs, err := m.cfg.Store.List(ctx)
	if err != nil {
		m.hookError("store list", err)
		m.mu.Lock()
		delete(m.own.owned, userID) // try again next round
		m.mu.Unlock()
		return
	}
	sids := map[string]bool{}
	for _, rec := range recs {
		if rec.UserID == userID {
			sids[rec.SessionID] = true
		}
	}
	m.mu.Lock()
	_, seen := m.own.seenHeld[userID]
	m.mu.Unlock()
	if seen || len(sids) > 0 { // another instance ran the user, or something of theirs is stored
		m.startTakeover(userID)
	}
	m.mu.Lock()
	for id, s := range m.own.live {
		if s.UserID == userID {
			sids[id] = true
		}
	}
	m.mu.Unlock()
	m.log.Info("taking over a user's sessions", "user_id", userID, "sessions", len(sids))
	for sid := range sids {
		m.goBackground(func(ctx context.Context) { m.adoptFor(ctx, userID, sid) })
	}
}

// adoptLive adopts the sessions of userID with a socket here that are not held yet.
func (m *Manager) adoptLive(userID string) {
	m.mu.Lock()
	var sids []string
	for id, s := range m.own.live {
		if s.UserID == userID && m.sessions[id] == nil && m.sockets[id] > 0 {
			sids = append(sids, id)
		}
	}
	m.mu.Unlock()
	for _, sid := range sids {
		m.goBackground(func(ctx context.Context) { m.adoptFor(ctx, userID, sid) })
	}
}

// adoptFor makes this instance run session sid of userID, which it owns: with the Session a
// socket here brought, else from the store with the token of another session of the user
// (the same Twitch login), all its feeds subscribed; without any token, adopted as it is
// stored (its lease runs). A held session is left alone unless its streamer changed, and so
// is one with an operation running (a socket's subscribe: the next round looks again).
func (m *Manager) adoptFor(ctx context.Context, userID, sid string) {
	m.mu.Lock()
	if m.own.adopting[sid] || m.ops[sid] != nil { // being adopted, or subscribed or ended right now
		m.mu.Unlock()
		return
	}
	m.own.adopting[sid] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.own.adopting, sid)
		m.mu.Unlock()
	}()
	rec, stored, err := m.cfg.Store.Load(ctx, sid)
	if err != nil {
		m.hookError("store load", err)
		return
	}
	if stored && rec.UserID != userID {
		return
	}
	m.mu.Lock()
	s, live := m.own.live[sid]
	if !live && stored {
		s = Session{ID: sid, UserID: rec.UserID, UserLogin: rec.UserLogin, Streamer: Streamer(rec.Streamer)}
		s.UserToken, s.Scopes = m.borrowTokenLocked(userID)
	}
	ss := m.sessions[sid]
	m.mu.Unlock()
	switch {
	case !live && !stored:
		return
	case ss != nil && ss.s.Streamer.ID == s.Streamer.ID:
		return
	case s.UserToken == nil:
		if ss == nil {
			if err := m.adoptOne(ctx, rec); err != nil {
				m.log.Warn("take over session", "session", shortID(sid), "err", err)
			}
		}
		return
	}
	err = m.subscribeFeeds(ctx, s, feedOrder...)
	if err != nil && !errors.Is(err, ErrShuttingDown) && !errors.Is(err, ErrOwnedElsewhere) {
		m.log.Warn("take over session", "session", shortID(sid), "err", err)
	}
}

// borrowTokenLocked is the token and scopes of a session of userID that has them: every
// session of one Twitch user was logged in as that user. Caller holds m.mu.
func (m *Manager) borrowTokenLocked(userID string) (helix.TokenSource, []string) {
	for _, s := range m.own.live {
		if s.UserID == userID && s.UserToken != nil {
			return s.UserToken, s.Scopes
		}
	}
	for _, ss := range m.sessions {
		if ss.s.UserID == userID && ss.s.UserToken != nil {
			return ss.s.UserToken, ss.s.Scopes
		}
	}
	return nil, nil
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
	userID, sid, ok := parseHandover(key)
	if m.cfg.Owners == nil || !ok {
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
