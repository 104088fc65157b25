package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// Reconcile runs at start-up. It lists the app's subscriptions whose callback is under
// PublicURL + "/callback/", deletes those that no stored session owns, and adopts the rest:
// each stored session is loaded into memory (its lease running until a socket opens), its
// enabled and pending subscriptions kept, and the ones Twitch disabled or lost created
// again. Nothing is deleted when the store cannot be read.
func (m *Manager) Reconcile(ctx context.Context) error {
	subs, err := m.cfg.Helix.ListSubscriptions(ctx, helix.ListFilter{})
	if err != nil {
		return fmt.Errorf("relay: reconcile: list subscriptions: %w", err)
	}
	recs, err := m.cfg.Store.List(ctx)
	if err != nil {
		m.hookError("store list", err)
		return fmt.Errorf("relay: reconcile: list sessions: %w", err)
	}
	bySession := map[string][]eventsub.Subscription{}
	for _, sub := range subs {
		sid, ok := strings.CutPrefix(sub.Transport.Callback, m.prefix)
		if !ok || sid == "" || strings.ContainsAny(sid, "/?#") {
			continue // not ours
		}
		bySession[sid] = append(bySession[sid], sub)
	}
	owned := map[string]Record{}
	for _, rec := range recs {
		owned[rec.SessionID] = rec
	}
	var errs []error
	deleted := 0
	for sid, list := range bySession {
		rec, ok := owned[sid]
		for _, sub := range list {
			if ok && wanted(rec, sub) {
				continue
			}
			if err := m.deleteSub(ctx, sub.ID); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted++
		}
	}
	for _, rec := range recs {
		var keep []eventsub.Subscription
		for _, sub := range bySession[rec.SessionID] {
			if wanted(rec, sub) {
				keep = append(keep, sub)
			}
		}
		if err := m.adopt(ctx, rec, keep); err != nil {
			errs = append(errs, err)
		}
	}
	m.log.Info("reconciled subscriptions", "listed", len(subs), "deleted", deleted, "sessions", len(recs), "errors", len(errs))
	return errors.Join(errs...)
}

// wanted reports whether a listed subscription belongs to a stored session: by id, or by
// type and condition (one whose id we failed to store).
func wanted(rec Record, sub eventsub.Subscription) bool {
	if _, ok := rec.Subs[sub.ID]; ok {
		return true
	}
	if feedOf(sub.Type) == "" {
		return false
	}
	s := Session{ID: rec.SessionID, UserID: rec.UserID, Streamer: rec.Streamer}
	return maps.Equal(sub.Condition, condition(sub.Type, s))
}

// adopt loads a stored session into memory with the subscriptions Twitch still has, and
// creates again those that are disabled or missing.
func (m *Manager) adopt(ctx context.Context, rec Record, subs []eventsub.Subscription) error {
	unlock := m.lockSession(rec.SessionID)
	defer unlock()
	m.mu.Lock()
	if m.sessions[rec.SessionID] != nil {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	s := Session{ID: rec.SessionID, UserID: rec.UserID, UserLogin: rec.UserLogin, Streamer: rec.Streamer}
	ss := newSession(s)
	newRec := Record{SessionID: s.ID, UserID: s.UserID, UserLogin: s.UserLogin, Streamer: s.Streamer, Subs: map[string]OwnedSub{}}
	var errs []error
	var recreate []string
	seen := map[string]bool{}
	for _, sub := range subs {
		st := ss.types[sub.Type]
		if st == nil || seen[sub.Type] {
			continue
		}
		seen[sub.Type] = true
		status, reason := twitchStatus(sub.Status)
		if status == StatusActive || status == StatusPending {
			st.subID, st.status, st.reason = sub.ID, status, reason
			newRec.Subs[sub.ID] = OwnedSub{ID: sub.ID, Feed: feedOf(sub.Type), Type: sub.Type, Status: status}
			continue
		}
		if err := m.deleteSub(ctx, sub.ID); err != nil {
			errs = append(errs, err)
		}
		recreate = append(recreate, sub.Type)
	}
	for _, o := range rec.Subs { // stored but gone from Twitch
		if !seen[o.Type] && ss.types[o.Type] != nil {
			seen[o.Type] = true
			recreate = append(recreate, o.Type)
		}
	}
	m.mu.Lock()
	ss.leaseUntil = rec.LeaseUntil
	if ss.leaseUntil.IsZero() {
		ss.leaseUntil = m.cfg.Now().Add(m.cfg.Lease)
	}
	if m.sockets[s.ID] > 0 {
		ss.leaseUntil = time.Time{}
	}
	newRec.LeaseUntil = ss.leaseUntil
	for _, typ := range recreate {
		ss.types[typ].inflight = true
	}
	m.sessions[s.ID] = ss
	m.mu.Unlock()
	if err := m.cfg.Store.Save(ctx, newRec, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		errs = append(errs, fmt.Errorf("relay: adopt session %s: %w", shortID(s.ID), err))
	}
	m.startFollowing(ss) // pending until Ensure brings the user's token
	for _, typ := range recreate {
		m.subscribeType(ctx, ss, typ)
	}
	m.publish(ss)
	m.log.Info("adopted session", "session", shortID(s.ID), "broadcaster_id", s.Streamer.ID, "subscriptions", len(newRec.Subs), "recreated", len(recreate))
	return errors.Join(errs...)
}
