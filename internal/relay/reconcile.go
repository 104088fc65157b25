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
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// subscribedTypes are the EventSub types of the feeds, in feed order.
var subscribedTypes = []string{eventsub.TypeChannelFollow, eventsub.TypeStreamOnline,
	eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate, eventsub.TypeUserUpdate, eventsub.TypeChannelRaid,
	eventsub.TypeChatNotification}

// Reconcile runs at start-up. Stored sessions whose lease has passed are dead: their records
// are deleted and they are not adopted. It lists the app's subscriptions whose callback is
// under PublicURL + "/callback/", keeps those that any live stored session references (by the
// id in its record, else by type and condition) and deletes the rest. Every live session is
// loaded into memory (its lease running until a socket opens) referencing the subscriptions
// it shares with the others, and the ones Twitch disabled or lost are created again (once,
// then shared). Nothing is deleted when the store cannot be read.
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
	var errs []error
	now := m.cfg.Now()
	live := recs[:0]
	stale := 0
	for _, rec := range recs {
		if rec.LeaseUntil.IsZero() || now.Before(rec.LeaseUntil) {
			live = append(live, rec)
			continue
		}
		stale++
		if err := m.cfg.Store.Delete(ctx, rec.SessionID); err != nil {
			m.hookError("store delete", err)
			errs = append(errs, fmt.Errorf("relay: forget stale session %s: %w", shortID(rec.SessionID), err))
		}
	}
	var ours []eventsub.Subscription // oldest first, as Twitch lists them
	for _, sub := range subs {
		sid, ok := strings.CutPrefix(sub.Transport.Callback, m.prefix)
		if ok && sid != "" && !strings.ContainsAny(sid, "/?#") {
			ours = append(ours, sub)
		}
	}
	plans := make([]adoptPlan, len(live))
	used := map[string]bool{}
	for i, rec := range live {
		plans[i] = planAdoption(rec, ours, used)
	}
	deleted := 0
	for _, sub := range ours {
		if used[sub.ID] {
			continue
		}
		// Several instances: one another instance is creating right now is not stored yet.
		if m.cfg.Owners != nil && now.Sub(sub.CreatedAt) < reconcileGrace {
			continue
		}
		if err := m.deleteSub(ctx, sub.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted++
	}
	for i, rec := range live {
		if m.cfg.Owners != nil { // several instances: adopt only users no live instance owns
			if ok, err := m.cfg.Owners.Claim(ctx, userKey(rec.UserID)); err != nil || !ok {
				continue
			}
		}
		if err := m.adopt(ctx, rec, plans[i]); err != nil {
			errs = append(errs, err)
		}
	}
	m.log.Info("reconciled subscriptions", "listed", len(subs), "deleted", deleted, "sessions", len(live),
		"stale_sessions", stale, "errors", len(errs))
	return errors.Join(errs...)
}

// adoptPlan is what a stored session references in Twitch and what must be created again.
type adoptPlan struct {
	keep     map[string]eventsub.Subscription // by type: usable subscriptions it references
	recreate []string                         // types it had whose subscription is disabled or gone
	// who, set by a takeover (owners.go), is the live session a socket brought: its token
	// and scopes make the websocket subscriptions.
	who *Session
}

// planAdoption matches a stored session with the listed subscriptions: a usable one whose id
// it recorded, else (an id it failed to store, or shared with a session whose record was
// lost) a usable one with the same type and condition, one already referenced first. Types
// it recorded, or whose subscription Twitch disabled (e.g. revoked while we were down),
// without a usable match are created again. used collects the referenced ids.
func planAdoption(rec store.Record, ours []eventsub.Subscription, used map[string]bool) adoptPlan {
	p := adoptPlan{keep: map[string]eventsub.Subscription{}}
	s := Session{ID: rec.SessionID, UserID: rec.UserID, Streamer: Streamer(rec.Streamer)}
	recorded := map[string]bool{}
	for _, o := range rec.Subs {
		recorded[o.Type] = true
	}
	for _, typ := range subscribedTypes {
		cond := condition(typ, s)
		var best *eventsub.Subscription
		disabled := false
		for i, sub := range ours {
			if sub.Type != typ || !maps.Equal(sub.Condition, cond) {
				continue
			}
			if status, _ := twitchStatus(sub.Status); !usable(status) {
				disabled = true
				continue
			}
			if _, ok := rec.Subs[sub.ID]; ok {
				best = &ours[i]
				break
			}
			if best == nil || (used[sub.ID] && !used[best.ID]) {
				best = &ours[i]
			}
		}
		switch {
		case best != nil:
			p.keep[typ] = *best
			used[best.ID] = true
		case recorded[typ] || disabled:
			p.recreate = append(p.recreate, typ)
		}
	}
	return p
}

// adopt loads a stored session into memory referencing the subscriptions Twitch still has,
// and subscribes again (joining or creating) those that are disabled or missing.
func (m *Manager) adopt(ctx context.Context, rec store.Record, p adoptPlan) error {
	unlock, err := m.lockSession(ctx, rec.SessionID)
	if err != nil {
		return err
	}
	defer unlock()
	return m.adoptLocked(ctx, rec, p)
}

// adoptLocked is adopt with the session's op lock held by the caller.
func (m *Manager) adoptLocked(ctx context.Context, rec store.Record, p adoptPlan) error {
	m.mu.Lock()
	if m.sessions[rec.SessionID] != nil {
		m.mu.Unlock()
		return nil
	}
	s := Session{ID: rec.SessionID, UserID: rec.UserID, UserLogin: rec.UserLogin, Streamer: Streamer(rec.Streamer)}
	if p.who != nil {
		s.UserToken, s.Scopes = p.who.UserToken, p.who.Scopes
	}
	ss := newSession(s)
	ss.followsSeen, ss.followsFrom = rec.FollowsSeen, rec.FollowsSeen
	newRec := store.Record{SessionID: s.ID, UserID: s.UserID, UserLogin: s.UserLogin, Streamer: store.Streamer(s.Streamer),
		Subs: map[string]store.OwnedSub{}, FollowsSeen: rec.FollowsSeen}
	var joins []*shared
	for typ, sub := range p.keep {
		sh := m.adoptShare(sub)
		m.attach(ss, typ, sh)
		newRec.Subs[sub.ID] = store.OwnedSub{ID: sub.ID, Feed: feedOf(typ), Type: typ, Status: sh.status}
		if m.registered(typ) {
			joins = append(joins, sh)
		}
	}
	ss.leaseUntil = rec.LeaseUntil
	if ss.leaseUntil.IsZero() {
		ss.leaseUntil = m.cfg.Now().Add(m.cfg.Lease)
	}
	if m.sockets[s.ID] > 0 {
		ss.leaseUntil = time.Time{}
	}
	newRec.LeaseUntil = ss.leaseUntil
	for _, typ := range p.recreate {
		ss.types[typ].inflight = true
	}
	m.sessions[s.ID] = ss
	reg := make([]Registered, len(joins))
	for i, sh := range joins {
		reg[i] = Registered{ID: sh.id, Creator: sh.creator, Status: sh.status}
	}
	m.mu.Unlock()
	var errs []error
	// The adopted session references what it kept in the registry too, so callbacks that
	// land on other instances reach it (routing there knows only the registry's references).
	for i, sh := range joins {
		if err := m.cfg.Registry.Join(ctx, sh.key, reg[i], s.ID); err != nil {
			m.hookError("registry join", err)
			errs = append(errs, fmt.Errorf("relay: adopt session %s: %w", shortID(s.ID), err))
		}
	}
	if err := m.cfg.Store.Save(ctx, newRec, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		errs = append(errs, fmt.Errorf("relay: adopt session %s: %w", shortID(s.ID), err))
	}
	m.startFollowing(ss) // pending until SubscribeToAllEvents brings the user's token
	for _, typ := range p.recreate {
		m.subscribeType(ctx, ss, typ)
	}
	m.publish(ss)
	m.log.Info("adopted session", "session", shortID(s.ID), "broadcaster_id", s.Streamer.ID,
		"subscriptions", len(newRec.Subs), "recreated", len(p.recreate))
	return errors.Join(errs...)
}
