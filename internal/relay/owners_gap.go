package relay

import (
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// A takeover's events_missing frame: the websocket feeds of a user's sessions ran on the
// previous owner's Twitch WebSocket session, and Twitch replays nothing of what went to it.

// takeover is this instance claiming a user another instance (or nobody) held: the stored
// sessions of the user adopted while it runs are owed an events_missing frame from from.
type takeover struct {
	from, at time.Time
}

// takeoverWindow is how long after claiming a user its stored sessions adopted count as
// taken over (their adoption may wait on Twitch's rate limits).
const takeoverWindow = wsResubscribeTimeout

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
