package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// startFollowing sets up the following feed: Twitch has no event for "X followed someone",
// so for the user's own channel we poll GET /channels/followed with the user's token and
// diff; for anyone else's channel the feed is unavailable.
func (m *Manager) startFollowing(ss *session) {
	m.mu.Lock()
	s := ss.s
	running := ss.pollStop != nil
	m.mu.Unlock()
	switch {
	case s.UserID != s.Streamer.ID:
		m.setStatus(ss, TypeUserFollows, StatusUnavailable, reasonFollowingOnly)
		return
	case s.UserToken == nil:
		m.setStatus(ss, TypeUserFollows, StatusPending, reasonNoToken)
		return
	case running:
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.mu.Lock()
	if m.sessions[s.ID] != ss || ss.pollStop != nil {
		m.mu.Unlock()
		cancel()
		return
	}
	ss.pollStop = cancel
	m.mu.Unlock()
	m.track(func() { m.pollFollowing(ctx, ss) })
}

// pollFollowing polls until ctx ends. The first page is the baseline; every later poll
// emits one event per channel that was not on the previous page, oldest first. A session
// adopted from another instance has the previous owner's mark (followsFrom): its first page
// emits what was followed after the mark, so a follow made while the session moved between
// instances still reaches the page. After each poll the mark moves to the newest follow seen
// (or to the poll's time when the user follows nobody) and is stored when it moved.
func (m *Manager) pollFollowing(ctx context.Context, ss *session) {
	var prev map[string]bool
	t := time.NewTimer(0)
	defer t.Stop()
	m.mu.Lock()
	from, seen := ss.followsFrom, ss.followsSeen
	ss.followsFrom = time.Time{}
	m.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		s := ss.s
		m.mu.Unlock()
		polled := m.cfg.Now()
		chans, err := m.cfg.Helix.GetFollowedChannels(ctx, s.UserToken, s.UserID, followedPageSize)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, helix.ErrUnauthorized), errors.Is(err, helix.ErrForbidden):
			m.log.Info("following poll", "session", shortID(s.ID), "err", err)
			m.setStatus(ss, TypeUserFollows, StatusUnavailable, reasonFollowingAuth)
		case err != nil:
			m.log.Warn("following poll", "session", shortID(s.ID), "err", err)
			m.hookError("following poll", err)
			m.setStatus(ss, TypeUserFollows, StatusFailed, reasonPollFailing)
		default:
			cur := make(map[string]bool, len(chans))
			for _, c := range chans {
				cur[c.BroadcasterID] = true
			}
			for i := len(chans) - 1; i >= 0; i-- {
				c := chans[i]
				if (prev != nil && !prev[c.BroadcasterID]) || (prev == nil && !from.IsZero() && c.FollowedAt.After(from)) {
					m.emit(s.ID, followsEvent(s, c))
				}
			}
			prev = cur
			seen = m.markFollows(ctx, ss, s.ID, seen, followsMark(chans, polled))
			m.setStatus(ss, TypeUserFollows, StatusActive, "")
		}
		t.Reset(m.cfg.PollInterval)
	}
}

// followsMark is how far a poll at polled that returned chans accounts for: the newest
// followed_at, or polled when the user follows nobody.
func followsMark(chans []helix.FollowedChannel, polled time.Time) time.Time {
	if len(chans) == 0 {
		return polled
	}
	var newest time.Time
	for _, c := range chans {
		if c.FollowedAt.After(newest) {
			newest = c.FollowedAt
		}
	}
	return newest
}

// markFollows stores mark as the session's FollowsSeen if it is past seen, and returns what
// is stored now (seen again when the store failed: the next poll tries again).
func (m *Manager) markFollows(ctx context.Context, ss *session, sid string, seen, mark time.Time) time.Time {
	if !mark.After(seen) {
		return seen
	}
	if err := m.cfg.Store.SaveFollowsSeen(ctx, sid, mark); err != nil {
		m.log.Warn("following poll: save mark", "session", shortID(sid), "err", err)
		m.hookError("store save", err)
		return seen
	}
	m.mu.Lock()
	ss.followsSeen = mark
	m.mu.Unlock()
	return mark
}

// followsEvent is the synthetic event of the following feed.
func followsEvent(s Session, c helix.FollowedChannel) webhook.Event {
	raw, _ := json.Marshal(c)
	who := s.Streamer.DisplayName
	if who == "" {
		who = s.Streamer.Login
	}
	name := c.BroadcasterName
	if name == "" {
		name = c.BroadcasterLogin
	}
	return webhook.Event{
		ID:      fmt.Sprintf("follows:%s:%s:%d", s.UserID, c.BroadcasterID, c.FollowedAt.UnixNano()),
		Type:    TypeUserFollows,
		Time:    c.FollowedAt.UTC(),
		Summary: who + " followed " + name,
		Actor:   webhook.Actor{ID: c.BroadcasterID, Login: c.BroadcasterLogin, Name: c.BroadcasterName},
		Raw:     raw,
	}
}

// emit publishes an event the relay originates (the following feed's) to a session.
func (m *Manager) emit(sid string, ev webhook.Event) {
	msg, err := hub.EventMessage(ev, m.cfg.Now())
	if err != nil {
		m.log.Error("encode event", "session", shortID(sid), "event_type", ev.Type, "err", err)
		return
	}
	// Named per session, so that with a broker the same follow emitted twice (by an owner that
	// died before it stored its mark, then by the instance that adopted the session) is
	// stored once.
	msg.ID = "relay:" + sid + ":" + ev.ID
	m.cfg.Hub.PublishTo([]string{sid}, msg)
}
