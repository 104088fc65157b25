package relay

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Feeds: the original design's subscriptions (docs/TWITCH.md §6.1).
const (
	FeedFollowedBy    = "followed_by"    // channel.follow v2
	FeedFollowing     = "following"      // no EventSub: polled, own channel only
	FeedStreamChanged = "stream_changed" // stream.online + stream.offline + channel.update v2
	FeedUserChanged   = "user_changed"   // user.update
	// Feeds a viewer gets without the broadcaster's authorization (docs/TWITCH.md §5.2).
	FeedRaids          = "raids"           // channel.raid, to_broadcaster_user_id = the streamer
	FeedChatHighlights = "chat_highlights" // channel.chat.notification, user_id = the viewer
)

// feedScopes are the scopes the viewer must have granted for a feed, checked before asking
// Twitch (the login asks for them: internal/auth).
var feedScopes = map[string]string{FeedChatHighlights: ScopeReadChat}

// ScopeReadChat lets us read chat notifications (subs, gifts, raids, announcements) as the
// viewer.
const ScopeReadChat = "user:read:chat"

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

// FeedStatus is one feed's status, with its name and, when it is not active, the reason in
// plain words (wording.go).
type FeedStatus struct {
	Feed   string
	Name   string
	Status string
	Reason string
	Types  []string // its event types
}

// feedOrder is the order feeds are listed in, on the page too.
var feedOrder = []string{FeedFollowedBy, FeedStreamChanged, FeedRaids, FeedChatHighlights, FeedUserChanged, FeedFollowing}

// feedTypes are the event types of each feed.
var feedTypes = map[string][]string{
	FeedFollowedBy:     {eventsub.TypeChannelFollow},
	FeedFollowing:      {TypeUserFollows},
	FeedStreamChanged:  {eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate},
	FeedUserChanged:    {eventsub.TypeUserUpdate},
	FeedRaids:          {eventsub.TypeChannelRaid},
	FeedChatHighlights: {eventsub.TypeChatNotification},
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
	case eventsub.TypeChannelRaid:
		return eventsub.Condition{"to_broadcaster_user_id": s.Streamer.ID}
	case eventsub.TypeChatNotification:
		return eventsub.Condition{"broadcaster_user_id": s.Streamer.ID, "user_id": s.UserID}
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
	// followsSeen is how far the following feed has accounted for (store.Record.FollowsSeen);
	// followsFrom is set on adoption to the previous owner's mark: the first poll emits what
	// was followed after it instead of being a silent baseline.
	followsSeen, followsFrom time.Time

	pubMu     sync.Mutex   // serialises publish
	published []FeedStatus // what the hub was last told
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
		fs := FeedStatus{Feed: feed, Name: feedNames[feed], Status: StatusActive, Types: slices.Clone(feedTypes[feed])}
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

// Statuses returns the feed statuses of a session this instance knows, in the page's order
// (followed_by, stream_changed, raids, chat_highlights, user_changed, following); nil for an unknown session (see
// Pending).
func (m *Manager) Statuses(sessionID string) []FeedStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	ss := m.sessions[sessionID]
	if ss == nil {
		return nil
	}
	return ss.statuses()
}

// Pending is every feed pending: what a page shows before its socket has subscribed.
func Pending() []FeedStatus { return newSession(Session{}).statuses() }

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

// publish tells the hub the session's current feed statuses if they differ from what it was
// last told. The snapshot is taken under the session's publish lock, so concurrent changes
// reach the hub in order and the last word is always the current state.
func (m *Manager) publish(ss *session) { m.sendStatuses(ss, false) }

// republish sends the session's current statuses to the hub even if unchanged: a socket that
// subscribes after the hub let go of the session's state still gets them (the hub does not
// resend a state it holds).
func (m *Manager) republish(ss *session) { m.sendStatuses(ss, true) }

func (m *Manager) sendStatuses(ss *session, always bool) {
	ss.pubMu.Lock()
	defer ss.pubMu.Unlock()
	m.mu.Lock()
	live := m.sessions[ss.s.ID] == ss
	now := ss.statuses()
	m.mu.Unlock()
	same := slices.EqualFunc(now, ss.published, func(a, b FeedStatus) bool {
		return a.Status == b.Status && a.Reason == b.Reason
	})
	if !live || (same && !always) {
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
	m.cfg.Hub.SendState(ss.s.ID, statusFrame(now))
}
