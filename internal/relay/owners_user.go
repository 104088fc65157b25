package relay

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/helix"
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

func newOwnership() ownership {
	return ownership{live: map[string]Session{}, owned: map[string]bool{}, seenHeld: map[string]time.Time{},
		remote: map[string]time.Time{}, adopting: map[string]bool{}, takeover: map[string]takeover{}, gaps: map[string]time.Time{}}
}

// userKey is the claim key of a Twitch user's sessions (lock:claim:user:<id> in Redis).
func userKey(userID string) string { return "user:" + userID }

// handoverKey is what Handover carries: the user, and the session a socket is open of.
func handoverKey(userID, sid string) string { return userKey(userID) + "/" + sid }

// endKey is what Handover carries to end a session of userID watching streamerID on the
// holder of the user's claim: a logout (or a streamer change) made on another instance.
func endKey(userID, sid, streamerID string) string {
	return handoverKey(userID, sid) + "/end/" + streamerID
}

// handover is a parsed handoverKey or endKey.
type handover struct {
	userID, sid string // sid "" if the message named only the user
	end         bool   // endKey: end sid if it still watches streamerID
	streamerID  string
}

// parseHandover is handoverKey's and endKey's inverse.
func parseHandover(key string) (handover, bool) {
	rest, ok := strings.CutPrefix(key, "user:")
	if !ok || rest == "" {
		return handover{}, false
	}
	var h handover
	h.userID, rest, _ = strings.Cut(rest, "/")
	h.sid, rest, _ = strings.Cut(rest, "/")
	if streamer, ok := strings.CutPrefix(rest, "end/"); ok {
		h.end, h.streamerID = true, streamer
	}
	return h, h.userID != "" && (!h.end || h.sid != "")
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
	case ss != nil && ss.s.Streamer.ID == s.Streamer.ID && !m.neverSubscribed(ss):
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

// neverSubscribed says whether a feed of ss was never tried here: a session adopted from the
// minimal record another instance saved for its owner holds no subscription until its
// feeds are subscribed, which only the owner does.
func (m *Manager) neverSubscribed(ss *session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for typ, st := range ss.types {
		if typ != TypeUserFollows && st.sh == nil && !st.inflight && st.status == StatusPending { // the poller is not a subscription
			return true
		}
	}
	return false
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
