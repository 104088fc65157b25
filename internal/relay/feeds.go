package relay

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Feeds: the original design's subscriptions (PROTOCOL.md §9).
const (
	FeedFollowedBy    = "followed_by"    // channel.follow v2
	FeedFollowing     = "following"      // no EventSub: polled, own channel only
	FeedStreamChanged = "stream_changed" // stream.online + stream.offline + channel.update v2
	FeedUserChanged   = "user_changed"   // user.update
)

// Feed statuses the user sees.
const (
	StatusPending     = "pending"
	StatusActive      = "active"
	StatusUnavailable = "unavailable"
	StatusFailed      = "failed"
	StatusRevoked     = "revoked"
)

// TypeUserFollows is the synthetic event type of the following feed.
const TypeUserFollows = "user.follows"

// FeedStatus is one feed's status, with the reason in plain words when it is not active.
type FeedStatus struct {
	Feed   string   `json:"feed"`
	Status string   `json:"status"`
	Reason string   `json:"reason,omitempty"`
	Types  []string `json:"types"`
}

// feedOrder is the order of Statuses.
var feedOrder = []string{FeedFollowedBy, FeedFollowing, FeedStreamChanged, FeedUserChanged}

// feedTypes are the event types of each feed.
var feedTypes = map[string][]string{
	FeedFollowedBy:    {eventsub.TypeChannelFollow},
	FeedFollowing:     {TypeUserFollows},
	FeedStreamChanged: {eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate},
	FeedUserChanged:   {eventsub.TypeUserUpdate},
}

// feedOf returns the feed of an EventSub subscription type.
func feedOf(typ string) string {
	for feed, types := range feedTypes {
		if slices.Contains(types, typ) {
			return feed
		}
	}
	return ""
}

// condition is the EventSub condition of typ for a session.
func condition(typ string, s Session) eventsub.Condition {
	switch typ {
	case eventsub.TypeChannelFollow:
		return eventsub.Condition{"broadcaster_user_id": s.Streamer.ID, "moderator_user_id": s.UserID}
	case eventsub.TypeUserUpdate:
		return eventsub.Condition{"user_id": s.Streamer.ID}
	}
	return eventsub.Condition{"broadcaster_user_id": s.Streamer.ID}
}

// typeState is a session's view of one event type: the shared subscription it references
// (or the poller's state), with that subscription's status mirrored.
type typeState struct {
	sh       *shared // nil until created or joined, and after it is forgotten
	status   string  // a feed status
	reason   string
	inflight bool // a subscribe is running
}

// session is the in-memory state of one relay session on this instance.
type session struct {
	s          Session
	types      map[string]*typeState // by event type, every type of every feed
	leaseUntil time.Time             // zero while a socket is open
	pollStop   context.CancelFunc    // following-poller
	dirty      bool                  // lease changed since the store last saw it

	pubMu     sync.Mutex   // serialises publish
	published []FeedStatus // what the Sink was last told
}

func newSession(s Session) *session {
	ss := &session{s: s, types: make(map[string]*typeState)}
	for _, feed := range feedOrder {
		for _, typ := range feedTypes[feed] {
			ss.types[typ] = &typeState{status: StatusPending}
		}
	}
	return ss
}

// statusRank orders statuses from best to worst; a feed shows its worst type.
var statusRank = map[string]int{StatusActive: 0, StatusPending: 1, StatusUnavailable: 2, StatusFailed: 3, StatusRevoked: 4}

// statuses returns every feed's status. Caller holds m.mu.
func (ss *session) statuses() []FeedStatus {
	out := make([]FeedStatus, 0, len(feedOrder))
	for _, feed := range feedOrder {
		fs := FeedStatus{Feed: feed, Status: StatusActive, Types: slices.Clone(feedTypes[feed])}
		for _, typ := range feedTypes[feed] {
			st := ss.types[typ]
			if statusRank[st.status] > statusRank[fs.Status] {
				fs.Status, fs.Reason = st.status, st.reason
			}
		}
		out = append(out, fs)
	}
	return out
}

// Statuses returns the feed statuses of a session this instance knows, in a stable order
// (followed_by, following, stream_changed, user_changed); nil for an unknown session.
func (m *Manager) Statuses(sessionID string) []FeedStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	ss := m.sessions[sessionID]
	if ss == nil {
		return nil
	}
	return ss.statuses()
}

// setStatus changes the state of one type and publishes the feed statuses if they changed.
// Caller must not hold m.mu.
func (m *Manager) setStatus(ss *session, typ, status, reason string) {
	m.mu.Lock()
	if st := ss.types[typ]; st != nil {
		st.status, st.reason = status, reason
	}
	m.mu.Unlock()
	m.publish(ss)
}

// publish tells the Sink the session's current feed statuses if they differ from what it was
// last told. The snapshot is taken under the session's publish lock, so concurrent changes
// reach the Sink in order and the last word is always the current state.
func (m *Manager) publish(ss *session) {
	ss.pubMu.Lock()
	defer ss.pubMu.Unlock()
	m.mu.Lock()
	live := m.sessions[ss.s.ID] == ss
	now := ss.statuses()
	m.mu.Unlock()
	if !live || slices.EqualFunc(now, ss.published, func(a, b FeedStatus) bool {
		return a.Status == b.Status && a.Reason == b.Reason
	}) {
		return
	}
	if m.cfg.OnStatus != nil {
		for i, fs := range now {
			if i >= len(ss.published) || ss.published[i].Status != fs.Status {
				m.cfg.OnStatus(fs.Feed, fs.Status)
			}
		}
	}
	ss.published = now
	m.cfg.Sink.Status(ss.s.ID, now)
}
