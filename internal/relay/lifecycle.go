package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// UnsubscribeFromAllEvents drops every subscription reference of a session now and forgets
// it (the original design's TODO): logout, a streamer change, or a token found invalid;
// reason is for the log. Subscriptions no other live session references are deleted in
// Twitch, and one whose create is still in flight is deleted when it returns. It waits for
// nothing but the session's own state and the deletes, all within ctx. Open sockets stay
// counted (a socket may outlive it and a later SubscribeToAllEvents subscribes again). The
// hub's history is the caller's to release.
func (m *Manager) UnsubscribeFromAllEvents(ctx context.Context, sessionID, reason string) error {
	unlock, err := m.lockSession(ctx, sessionID)
	if err != nil {
		return err
	}
	defer unlock()
	return m.endLocked(ctx, sessionID, reason)
}

// endLocked ends a session: its references drop, and the subscriptions nobody else
// references are deleted in Twitch. Caller holds the session's op lock.
func (m *Manager) endLocked(ctx context.Context, sid, reason string) error {
	return m.endHere(ctx, sid, reason, true)
}

// endHere is endLocked; stored says the session's record is this call's to read and delete
// (false when another instance ended the session and did so). A session this instance does
// not run, of a user another instance owns, is ended there too (Owners.Handover with endKey):
// the owner runs its poller and its websocket subscriptions.
func (m *Manager) endHere(ctx context.Context, sid, reason string, stored bool) error {
	ids := map[string]struct{}{}
	wsIDs := map[string]helix.TokenSource{} // websocket subscriptions: deleted with the user's token
	var left []string                       // registered ones still referenced here: the registry forgets sid
	shared, userID := 0, ""
	m.mu.Lock()
	ss := m.sessions[sid]
	if ss != nil {
		userID = ss.s.UserID
		delete(m.sessions, sid)
		if ss.pollStop != nil {
			ss.pollStop()
		}
		for _, st := range ss.types {
			if st.sh == nil {
				continue
			}
			if id := m.unref(st.sh, sid); id != "" && st.sh.transport == eventsub.TransportWebSocket {
				wsIDs[id] = ss.s.UserToken
			} else if id != "" {
				ids[id] = struct{}{}
			} else if len(st.sh.refs) > 0 {
				shared++
				if st.sh.id != "" && m.cfg.Registry != nil && st.sh.transport != eventsub.TransportWebSocket {
					left = append(left, st.sh.id)
				}
			}
		}
	}
	m.mu.Unlock()
	// Subscriptions this instance does not hold in memory (created before a restart or by
	// another instance) are in the store. If it cannot be read, delete what we know.
	var errs []error
	var rec store.Record
	ok := false
	if stored {
		var err error
		rec, ok, err = m.cfg.Store.Load(ctx, sid)
		if err != nil {
			m.hookError("store load", err)
			errs = append(errs, fmt.Errorf("relay: end session %s: %w", shortID(sid), err))
		}
	}
	if ok {
		m.mu.Lock()
		for id := range rec.Subs {
			if sh := m.subs[id]; sh == nil || len(sh.refs) == 0 {
				ids[id] = struct{}{}
			} else if _, here := sh.refs[sid]; !here && m.cfg.Registry != nil && sh.transport != eventsub.TransportWebSocket {
				left = append(left, id) // this instance's other sessions hold it: sid leaves it anyway
			}
		}
		m.mu.Unlock()
	}
	for _, id := range left {
		m.leaveRegistered(ctx, id, sid) // still referenced here: never the last anywhere
	}
	for id := range ids {
		if m.cfg.Registry != nil && !m.leaveRegistered(ctx, id, sid) {
			shared++ // sessions of other instances still reference it
			continue
		}
		if err := m.deleteSub(ctx, id); err != nil {
			errs = append(errs, err) // the next Reconcile, or its next callback, deletes it
		}
	}
	for id, ts := range wsIDs {
		if err := m.deleteShare(ctx, eventsub.TransportWebSocket, ts, id); err != nil {
			errs = append(errs, err) // it ends with its Twitch session anyway
		}
	}
	m.closeUnusedWS(userID)
	if stored {
		if err := m.cfg.Store.Delete(ctx, sid); err != nil {
			m.hookError("store delete", err)
			errs = append(errs, fmt.Errorf("relay: forget session %s: %w", shortID(sid), err))
		}
	}
	if ss == nil && ok && m.cfg.Owners != nil {
		// Run by another instance, maybe: its owner stops what it runs for the session.
		if err := m.cfg.Owners.Handover(ctx, endKey(rec.UserID, sid, rec.Streamer.ID)); err != nil {
			m.hookError("handover", err)
			errs = append(errs, fmt.Errorf("relay: end session %s on its owner: %w", shortID(sid), err))
		}
	}
	m.log.Info("session ended", "session", shortID(sid), "reason", reason, "subscriptions", len(ids)+len(wsIDs),
		"still_shared", shared, "errors", len(errs))
	return errors.Join(errs...)
}

// SocketOpened counts an open socket of a session: its lease stops running.
func (m *Manager) SocketOpened(sessionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sockets[sessionID]++
	if ss := m.sessions[sessionID]; ss != nil && !ss.leaseUntil.IsZero() {
		ss.leaseUntil, ss.dirty = time.Time{}, true
	}
}

// SocketClosed counts a closed socket; after the last one the lease starts.
func (m *Manager) SocketClosed(sessionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sockets[sessionID]--; m.sockets[sessionID] > 0 {
		return
	}
	delete(m.sockets, sessionID)
	delete(m.own.live, sessionID)
	if ss := m.sessions[sessionID]; ss != nil {
		ss.leaseUntil, ss.dirty = m.cfg.Now().Add(m.cfg.Lease), true
	}
}

// Expire releases every session whose lease ended by now: its subscriptions are deleted in
// Twitch, its state forgotten and OnRelease called. It also stores changed leases and renews
// the stored state of sessions with open sockets, in one batch. Run calls it periodically;
// tests call it with the time they want.
func (m *Manager) Expire(ctx context.Context, now time.Time) error {
	var expired []string
	touch := map[string]time.Time{}
	m.mu.Lock()
	m.remoteLeasesLocked()
	for id, ss := range m.sessions {
		switch {
		case m.sockets[id] == 0 && !ss.leaseUntil.IsZero() && !now.Before(ss.leaseUntil):
			expired = append(expired, id)
		case ss.dirty || m.sockets[id] > 0:
			touch[id] = ss.leaseUntil
			ss.dirty = false
		}
	}
	m.mu.Unlock()
	var errs []error
	if len(touch) > 0 {
		if err := m.cfg.Store.Touch(ctx, touch, m.storeTTL()); err != nil {
			m.hookError("store touch", err)
			errs = append(errs, fmt.Errorf("relay: store leases: %w", err))
			m.markDirty(touch)
		}
	}
	for _, id := range expired {
		if err := m.release(ctx, id, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) markDirty(ids map[string]time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range ids {
		if ss := m.sessions[id]; ss != nil {
			ss.dirty = true
		}
	}
}

// release ends a session whose lease ended, unless a socket opened meanwhile.
func (m *Manager) release(ctx context.Context, id string, now time.Time) error {
	if !m.claimForEnd(ctx, id) { // another instance owns it now, or Redis cannot say
		return nil
	}
	unlock, err := m.lockSession(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	m.mu.Lock()
	ss := m.sessions[id]
	still := ss != nil && m.sockets[id] == 0 && !ss.leaseUntil.IsZero() && !now.Before(ss.leaseUntil)
	m.mu.Unlock()
	if !still {
		return nil
	}
	err = m.endLocked(ctx, id, "lease ended")
	m.dropUserIfIdle(ctx, ss.s.UserID)
	if m.cfg.OnRelease != nil {
		m.cfg.OnRelease(id)
	}
	return err
}

// Shutdown stops everything the Manager runs. Nothing new starts once it has begun
// (subscribes fail with ErrShuttingDown); subscribes in flight finish (their creates
// return), then pollers, watchdogs and background deletes are stopped and awaited. With
// keep=false (in-memory state, lost on exit) it then deletes every subscription this instance
// owns, so nothing is left at Twitch; with keep=true (Redis) it keeps them and stores the
// current leases, so a restart loses no event.
func (m *Manager) Shutdown(ctx context.Context, keep bool) error {
	m.bgMu.Lock()
	m.stopping = true
	m.bgMu.Unlock()
	if err := waitGroup(ctx, &m.inflight); err != nil {
		m.cancel()
		return fmt.Errorf("relay: shutdown: subscribes in flight: %w", err)
	}
	m.cancel()
	if err := waitGroup(ctx, &m.wg); err != nil {
		return fmt.Errorf("relay: shutdown: %w", err)
	}
	m.mu.Lock()
	leases := make(map[string]time.Time, len(m.sessions))
	users := map[string]string{}
	for id, ss := range m.sessions {
		users[ss.s.UserID] = ss.s.UserID
		leases[id] = ss.leaseUntil
		if leases[id].IsZero() { // sockets are closing with the process: start the lease now
			leases[id] = m.cfg.Now().Add(m.cfg.Lease)
		}
	}
	m.mu.Unlock()
	if keep {
		if len(leases) == 0 {
			return nil
		}
		err := m.cfg.Store.Touch(ctx, leases, m.storeTTL())
		if m.cfg.Owners != nil { // another instance may take them over at once
			for _, uid := range users {
				m.cfg.Owners.Drop(ctx, userKey(uid))
			}
		}
		return err
	}
	var errs []error
	for id := range leases {
		errs = append(errs, m.UnsubscribeFromAllEvents(ctx, id, "shutdown"))
	}
	return errors.Join(errs...)
}

// waitGroup waits for wg, no longer than ctx allows.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
