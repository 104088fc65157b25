package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// SubscribeToAllEvents subscribes every feed of s: the original design's step 8, when the
// stream page's socket says stream_connected. A repeat for the same streamer is cheap:
// feeds that are active, pending, unavailable or revoked are left alone and only failed ones
// are retried (and the following-poller picks up a fresh token); the current statuses are
// published again either way. A different streamer first unsubscribes the old one. Feed
// failures are statuses, not errors: it fails only when the session's state cannot be
// stored, ctx ends while another operation holds the session, or Shutdown has begun.
// The Twitch calls run outside the session's lock, so UnsubscribeFromAllEvents never waits
// for them: a subscription whose create returns after its session ended is deleted then.
func (m *Manager) SubscribeToAllEvents(ctx context.Context, s Session) error {
	return m.subscribeFeeds(ctx, s, feedOrder...)
}

// SubscribeFollowedBy subscribes "the streamer is followed by someone" (channel.follow v2,
// moderator_user_id = the logged-in user).
func (m *Manager) SubscribeFollowedBy(ctx context.Context, s Session) error {
	return m.subscribeFeeds(ctx, s, FeedFollowedBy)
}

// SubscribeFollowing starts "the streamer follows someone": polled, own channel only.
func (m *Manager) SubscribeFollowing(ctx context.Context, s Session) error {
	return m.subscribeFeeds(ctx, s, FeedFollowing)
}

// SubscribeStreamChanged subscribes stream.online, stream.offline and channel.update v2.
func (m *Manager) SubscribeStreamChanged(ctx context.Context, s Session) error {
	return m.subscribeFeeds(ctx, s, FeedStreamChanged)
}

// SubscribeUserChanged subscribes user.update.
func (m *Manager) SubscribeUserChanged(ctx context.Context, s Session) error {
	return m.subscribeFeeds(ctx, s, FeedUserChanged)
}

func (m *Manager) subscribeFeeds(ctx context.Context, s Session, feeds ...string) error {
	if s.ID == "" || s.Streamer.ID == "" || s.UserID == "" {
		return errors.New("relay: session id, user id and streamer id are required")
	}
	done, err := m.begin()
	if err != nil {
		return err
	}
	defer done()
	unlock, err := m.lockSession(ctx, s.ID)
	if err != nil {
		return err
	}
	ss, err := m.sessionFor(ctx, s)
	if err != nil {
		unlock()
		return err
	}
	var todo []string
	m.mu.Lock()
	capped := m.overStreamerCap(ss)
	for _, feed := range feeds {
		for _, typ := range feedTypes[feed] {
			st := ss.types[typ]
			if capped { // failed, not unavailable: the next stream_connected tries again
				if st.sh == nil && !st.inflight && ss.pollStop == nil {
					st.status, st.reason = StatusFailed, reasonStreamerCap(m.cfg.StreamersPerUser)
				}
				continue
			}
			if feed == FeedFollowing {
				continue
			}
			if st.sh == nil && !st.inflight && (st.status == StatusPending || st.status == StatusFailed) {
				if status, reason, ok := m.notHere(feed, s); !ok {
					st.status, st.reason = status, reason
					continue
				}
			}
			if st.sh == nil && !st.inflight && (st.status == StatusPending || st.status == StatusFailed) {
				st.inflight = true
				todo = append(todo, typ)
			}
		}
	}
	m.mu.Unlock()
	unlock()
	var wg sync.WaitGroup
	for _, typ := range todo {
		wg.Go(func() { m.subscribeType(ctx, ss, typ) })
	}
	if slices.Contains(feeds, FeedFollowing) && !capped {
		m.startFollowing(ss)
	}
	if capped {
		m.log.Info("streamer cap reached", "session", shortID(s.ID), "user_id", s.UserID, "broadcaster_id", s.Streamer.ID, "cap", m.cfg.StreamersPerUser)
	}
	wg.Wait()
	m.republish(ss)
	m.sendGap(s.ID)
	return nil
}

// notHere says why a feed cannot be subscribed for s on this server: a scope the viewer did
// not grant, or a transport this server does not have. ok is true when it can.
func (m *Manager) notHere(feed string, s Session) (status, reason string, ok bool) {
	if scope := feedScopes[feed]; scope != "" && !slices.Contains(s.Scopes, scope) {
		return StatusUnavailable, reasonMissingScope(feed), false
	}
	for _, typ := range feedTypes[feed] {
		if m.transportOf(typ) == eventsub.TransportWebSocket && (m.cfg.WebSockets == nil || m.cfg.UserHelix == nil) {
			return StatusUnavailable, reasonNeedsWebSocket, false
		}
	}
	return "", "", true
}

// overStreamerCap reports whether the user of ss already holds subscriptions for
// StreamersPerUser other streamers in other sessions, so that ss may not add one more (a
// session holds a streamer while any of its subscriptions exists or is being made, or its
// poller runs). Sessions of one streamer share their subscriptions, so they count once.
// Caller holds m.mu.
func (m *Manager) overStreamerCap(ss *session) bool {
	limit := m.cfg.StreamersPerUser
	if limit <= 0 {
		return false
	}
	held := map[string]bool{}
	for _, o := range m.sessions {
		if o == ss || o.s.UserID != ss.s.UserID || o.s.Streamer.ID == ss.s.Streamer.ID || held[o.s.Streamer.ID] {
			continue
		}
		if o.holds() {
			held[o.s.Streamer.ID] = true
		}
	}
	return len(held) >= limit
}

// holds reports whether ss has a subscription, made or being made, or a poller. Caller
// holds m.mu.
func (ss *session) holds() bool {
	for _, st := range ss.types {
		if st.sh != nil || st.inflight {
			return true
		}
	}
	return ss.pollStop != nil
}

// sessionFor returns the live state of s: the existing one for the same streamer and user
// (with the token refreshed), or a new one, after ending the old one. Caller holds the
// session's op lock.
func (m *Manager) sessionFor(ctx context.Context, s Session) (*session, error) {
	m.mu.Lock()
	ss := m.sessions[s.ID]
	if ss != nil && ss.s.Streamer.ID == s.Streamer.ID && ss.s.UserID == s.UserID {
		if s.UserToken != nil {
			ss.s.UserToken = s.UserToken
		}
		if s.UserLogin != "" {
			ss.s.UserLogin = s.UserLogin
		}
		if s.Streamer.Login != "" {
			ss.s.Streamer = s.Streamer
		}
		m.mu.Unlock()
		return ss, nil
	}
	m.mu.Unlock()
	if ss != nil {
		if err := m.endLocked(ctx, s.ID, "streamer changed"); err != nil {
			m.log.Warn("streamer change: unsubscribe", "session", shortID(s.ID), "err", err)
		}
	}
	if m.cfg.Owners != nil { // several instances: claim the user, and adopt what another left
		m.noteLive(s)
		ok, err := m.cfg.Owners.Claim(ctx, userKey(s.UserID))
		if err != nil {
			return nil, fmt.Errorf("relay: claim session %s: %w", shortID(s.ID), err)
		}
		if ok {
			m.claimedUser(s.UserID)
		}
		if !ok { // the owner runs it (stored for it), and lets the user go if it has no socket of theirs
			m.mu.Lock()
			m.own.seenHeld[s.UserID] = m.cfg.Now()
			m.mu.Unlock()
			if err := m.saveForOwner(ctx, s); err != nil {
				m.hookError("store save", err)
			}
			if err := m.cfg.Owners.Handover(ctx, handoverKey(s.UserID, s.ID)); err != nil {
				m.hookError("handover", err)
			}
			return nil, ErrOwnedElsewhere
		}
		if ss, err := m.adoptStored(ctx, s); ss != nil || err != nil {
			return ss, err
		}
	}
	ss = newSession(s)
	m.mu.Lock()
	if m.sockets[s.ID] == 0 {
		ss.leaseUntil = m.cfg.Now().Add(m.cfg.Lease)
	}
	rec := store.Record{SessionID: s.ID, UserID: s.UserID, UserLogin: s.UserLogin, Streamer: store.Streamer(s.Streamer), LeaseUntil: ss.leaseUntil}
	m.mu.Unlock()
	if err := m.cfg.Store.Save(ctx, rec, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		return nil, fmt.Errorf("relay: save session %s: %w", shortID(s.ID), err)
	}
	m.mu.Lock()
	m.sessions[s.ID] = ss
	m.mu.Unlock()
	m.log.Info("session subscribing", "session", shortID(s.ID), "broadcaster_id", s.Streamer.ID)
	m.publish(ss)
	return ss, nil
}

// subscribeType makes the session reference a subscription of typ: an existing usable one
// of this Manager with the same type, version and condition, else a new one created with the
// session's callback. The type is marked inflight by the caller.
func (m *Manager) subscribeType(ctx context.Context, ss *session, typ string) {
	m.mu.Lock()
	s, st := ss.s, ss.types[typ]
	st.inflight = false
	key := m.keyFor(typ, s)
	if m.sessions[s.ID] != ss {
		m.mu.Unlock()
		return
	}
	if sh := m.shares[key]; sh != nil && usable(sh.status) {
		m.joinLocal(ctx, ss, typ, key, sh)
		return
	}
	if until, ok := m.tooMany[key]; ok && m.cfg.Now().Before(until) {
		st.status, st.reason = StatusFailed, reasonTooMany
		m.mu.Unlock()
		m.publish(ss)
		return
	}
	unlockKey := func() {}
	if m.registered(typ) { // several instances: join theirs, or create it while they wait
		m.mu.Unlock()
		unlock, err := m.cfg.Registry.Lock(ctx, key)
		if err != nil { // Redis trouble: create it anyway (at worst a duplicate, removed when its sessions end)
			m.hookError("registry lock", err)
			m.log.Warn("subscription registry", "event_type", typ, "err", err)
		} else {
			unlockKey = unlock
			if m.joinRegistered(ctx, ss, typ, key) {
				unlockKey()
				return
			}
		}
		m.mu.Lock()
		if m.sessions[s.ID] != ss {
			m.mu.Unlock()
			unlockKey()
			return
		}
		if sh := m.shares[key]; sh != nil && usable(sh.status) { // a session here created it meanwhile
			unlockKey()
			m.joinLocal(ctx, ss, typ, key, sh)
			return
		}
	}
	defer func() { unlockKey() }()
	sh := &shared{key: key, typ: typ, cond: condition(typ, s), creator: s.ID, status: StatusPending, refs: map[string]*session{},
		transport: m.transportOf(typ), userID: s.UserID}
	m.shares[key] = sh
	m.attach(ss, typ, sh)
	m.creating[s.ID]++
	m.mu.Unlock()

	sub, wsid, err := m.create(ctx, s, typ)

	m.mu.Lock()
	if m.creating[s.ID]--; m.creating[s.ID] <= 0 {
		delete(m.creating, s.ID)
	}
	m.createdSignal() // a challenge for sub.ID may be waiting for us
	orphan := err == nil && len(sh.refs) == 0
	var status, reason string
	switch {
	case err != nil: // fail the share now, so nobody joins it any more
		status, reason = createFailure(typ, s, err)
		sh.status, sh.reason = status, reason
		m.forget(sh)
		if errors.Is(err, helix.ErrTooManyIdentical) {
			m.noteTooMany(key)
		}
	case !orphan:
		sh.id, sh.wsSession = sub.ID, wsid
		sh.status, sh.reason = twitchStatus(sub.Status)
		m.register(sh)
	}
	disabled := !usable(sh.status)
	pending := err == nil && !orphan && sh.status == StatusPending
	var refs []string
	if err == nil && !orphan && !disabled && m.registered(typ) {
		refs = keysExcept(sh.refs, "")
	}
	regStatus := sh.status
	m.mu.Unlock()
	if len(refs) > 0 { // before the key's lock is let go: other instances join it from now on
		if err := m.cfg.Registry.Join(ctx, key, Registered{ID: sub.ID, Creator: s.ID, Status: regStatus}, refs...); err != nil {
			m.hookError("registry join", err)
			m.log.Warn("register subscription", "subscription_id", sub.ID, "err", err)
		}
	}
	unlockKey()
	unlockKey = func() {}
	switch {
	case err != nil:
		m.log.Warn("subscribe", "session", shortID(s.ID), "event_type", typ, "broadcaster_id", s.Streamer.ID, "status", status, "err", err)
		m.setShareStatus(ctx, sh, status, reason, true)
		if sh.transport == eventsub.TransportWebSocket {
			m.closeUnusedWS(s.UserID)
		}
	case orphan: // every referencing session ended while we were creating
		m.mu.Lock()
		m.forget(sh)
		m.mu.Unlock()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		if err := m.deleteShare(dctx, sh.transport, s.UserToken, sub.ID); err != nil { // the next Reconcile deletes it
			m.log.Warn("delete subscription of an ended session", "subscription_id", sub.ID, "err", err)
		} else {
			m.log.Info("deleted subscription of an ended session", "session", shortID(s.ID), "subscription_id", sub.ID)
		}
	default:
		m.log.Info("subscribed", "session", shortID(s.ID), "event_type", typ, "subscription_id", sub.ID, "status", sub.Status)
		// The challenge may have been answered meanwhile: keep the share's current status.
		m.setShareStatus(ctx, sh, "", "", disabled)
		if pending { // its challenge may never reach us
			m.watchVerification(sh)
		}
	}
}

// joinLocal makes ss reference sh, a usable subscription of this instance's memory (and,
// with several instances, the registry's). Caller holds m.mu; joinLocal lets it go.
func (m *Manager) joinLocal(ctx context.Context, ss *session, typ, key string, sh *shared) {
	s := ss.s
	m.attach(ss, typ, sh)
	id, status, creator := sh.id, sh.status, sh.creator
	m.mu.Unlock()
	if id != "" { // else the create's end stores (and registers) it for every reference
		m.storeSub(ctx, s.ID, id, typ, status)
		if m.registered(typ) {
			if err := m.cfg.Registry.Join(ctx, key, Registered{ID: id, Creator: creator, Status: status}, s.ID); err != nil {
				m.hookError("registry join", err)
			}
		}
	}
	m.log.Info("subscription shared", "session", shortID(s.ID), "event_type", typ, "subscription_id", id, "sessions", m.refCount(key))
	m.publish(ss)
}

// noteTooMany remembers that Twitch refused key for having 3 identical subscriptions, so
// SubscribeToAllEvents does not ask again for a while. Caller holds m.mu.
func (m *Manager) noteTooMany(key string) {
	now := m.cfg.Now()
	for k, until := range m.tooMany {
		if !now.Before(until) {
			delete(m.tooMany, k)
		}
	}
	m.tooMany[key] = now.Add(tooManyRetryAfter)
}

// refCount is how many sessions reference the subscription new sessions of key join.
func (m *Manager) refCount(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sh := m.shares[key]; sh != nil {
		return len(sh.refs)
	}
	return 0
}

// create creates typ for s. A subscription adopted after a 409 that Twitch has disabled is
// deleted and created again.
func (m *Manager) create(ctx context.Context, s Session, typ string) (eventsub.Subscription, string, error) {
	if m.transportOf(typ) == eventsub.TransportWebSocket {
		return m.createWS(ctx, s, typ)
	}
	sub, err := m.createWebhook(ctx, s, typ)
	return sub, "", err
}

func (m *Manager) createWebhook(ctx context.Context, s Session, typ string) (eventsub.Subscription, error) {
	req := eventsub.CreateRequest{
		Type: typ, Version: eventsub.Version(typ), Condition: condition(typ, s),
		Transport: eventsub.Transport{Method: "webhook", Callback: m.CallbackURL(s.ID), Secret: webhook.Secret(m.cfg.ServerSecret, s.ID)},
	}
	sub, err := m.cfg.Helix.CreateSubscription(ctx, req)
	if err != nil || sub.Status == eventsub.StatusEnabled || sub.Status == eventsub.StatusVerificationPending {
		return sub, err
	}
	if err := m.cfg.Helix.DeleteSubscription(ctx, sub.ID); err != nil && !errors.Is(err, helix.ErrNotFound) {
		return eventsub.Subscription{}, err
	}
	return m.cfg.Helix.CreateSubscription(ctx, req)
}

// deleteSub deletes a subscription in Twitch; one that is already gone is fine.
func (m *Manager) deleteSub(ctx context.Context, id string) error {
	err := m.cfg.Helix.DeleteSubscription(ctx, id)
	if err != nil && !errors.Is(err, helix.ErrNotFound) {
		m.hookError("delete subscription", err)
		return fmt.Errorf("relay: delete subscription %s: %w", id, err)
	}
	m.forgetRegistered(ctx, id) // gone from Twitch (a reconcile, a stray): nobody may join it
	return nil
}
