package relay

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Route is the relay's answer to "this verified EventSub message arrived on this session's
// callback: what does it mean, and who receives it?". The transport acts on it: the web
// layer's callback handler answers Twitch and publishes Event to To in the hub.
type Route struct {
	Outcome   string        // a stable label for the log line and metrics (Outcome* below)
	Challenge string        // non-empty: answer Twitch's verification with exactly this
	Refused   bool          // a challenge we are not waiting for: refuse it
	Event     webhook.Event // a notification's normalised event, for To
	To        []string      // the relay sessions that receive Event, sorted; none: show nothing
	Detail    error         // why, for the log line (a malformed event, an unknown type)
}

// Outcomes of Route.
const (
	OutcomeAccepted       = "accepted"
	OutcomeChallenge      = "challenge"
	OutcomeUnexpected     = "unexpected_challenge"
	OutcomeRevoked        = "revoked"
	OutcomeUnknownSession = "unknown_session"
	OutcomeStray          = "stray_subscription"
	OutcomeMismatch       = "mismatched_subscription"
	OutcomeNotDelivering  = "not_delivering"
	OutcomeUnknownType    = "unknown_type"
	OutcomeUnknownMessage = "unknown_message_type"
	OutcomeMalformedEvent = "malformed_event"
	OutcomeDuplicate      = "duplicate"
)

// Route says what a verified message means. A notification is delivered only to sessions
// that hold its subscription (by id) with the same type, version and condition, while it is
// delivering (pending or active: never once revoked or failed); anything else is shown to
// nobody. A challenge is answered only for a subscription created with this session's
// callback that waits for it, or, sent again with the same message id (Twitch retries when
// our answer was lost), that this message verified. err is a store failure: nothing was
// decided, and the transport makes Twitch retry.
func (m *Manager) Route(ctx context.Context, sid string, msg *webhook.Message) (Route, error) {
	if msg.Duplicate && msg.Type != eventsub.MessageTypeVerification {
		return Route{Outcome: OutcomeDuplicate}, nil
	}
	sub := msg.Subscription
	if msg.SubscriptionType != sub.Type || msg.SubscriptionVersion != sub.Version {
		// The headers and the body disagree on what this is.
		return Route{Outcome: OutcomeMismatch, Refused: msg.Type == eventsub.MessageTypeVerification,
			Detail: fmt.Errorf("relay: headers say %s v%s, body %s v%s", msg.SubscriptionType, msg.SubscriptionVersion, sub.Type, sub.Version)}, nil
	}
	switch msg.Type {
	case eventsub.MessageTypeVerification:
		return m.routeChallenge(ctx, sid, msg)
	case eventsub.MessageTypeNotification:
		return m.routeNotification(ctx, sid, msg)
	case eventsub.MessageTypeRevocation:
		return m.routeRevocation(ctx, sid, msg)
	}
	return Route{Outcome: OutcomeUnknownMessage}, nil
}

// matches reports whether a message's subscription is the one sh stands for: same type,
// version and condition. Caller holds m.mu.
func matches(sh *shared, sub eventsub.Subscription) bool {
	return sub.Type == sh.typ && sub.Version == eventsub.Version(sub.Type) && maps.Equal(sub.Condition, sh.cond)
}

// matchesRecord is matches for a subscription a stored session references.
func matchesRecord(rec store.Record, o store.OwnedSub, sub eventsub.Subscription) bool {
	s := Session{ID: rec.SessionID, UserID: rec.UserID, Streamer: Streamer(rec.Streamer)}
	return o.Type == sub.Type && sub.Version == eventsub.Version(sub.Type) && maps.Equal(sub.Condition, condition(sub.Type, s))
}

func (m *Manager) routeChallenge(ctx context.Context, sid string, msg *webhook.Message) (Route, error) {
	ok, err := m.expectsChallenge(ctx, sid, msg)
	if err != nil {
		return Route{}, err
	}
	if !ok {
		return Route{Outcome: OutcomeUnexpected, Refused: true}, nil
	}
	return Route{Outcome: OutcomeChallenge, Challenge: msg.Challenge}, nil
}

// expectsChallenge reports whether to answer a challenge. It can arrive before our create
// call has returned the id, so while creates with this callback are in flight it waits for
// them (bounded).
func (m *Manager) expectsChallenge(ctx context.Context, sid string, msg *webhook.Message) (bool, error) {
	sub := msg.Subscription
	timer := time.NewTimer(challengeWait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		if sh := m.subs[sub.ID]; sh != nil {
			ok := sh.creator == sid && matches(sh, sub) &&
				(sh.status == StatusPending || (msg.Duplicate && sh.verifiedBy == msg.ID))
			first := ok && sh.status == StatusPending
			if first {
				sh.verifiedBy = msg.ID
			}
			_, creatorHere := sh.refs[sid]
			m.mu.Unlock()
			if first {
				m.setShareStatus(ctx, sh, StatusActive, "", false)
				if !creatorHere && m.cfg.Registry != nil {
					// Joined from another instance: the creator's record is what the other
					// instances' watchdogs read (verifiedElsewhere).
					m.storeSub(ctx, sid, sub.ID, sub.Type, StatusActive)
				}
			}
			return ok, nil
		}
		if m.creating[sid] == 0 {
			known := m.sessions[sid] != nil
			m.mu.Unlock()
			if known {
				return false, nil
			}
			break
		}
		changed := m.created
		m.mu.Unlock()
		if m.challengeWaiting != nil {
			m.challengeWaiting()
		}
		select {
		case <-changed:
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	// Not in this instance's memory: another instance (or a previous process) created it.
	// With several instances the challenge can beat the creator's record of it: look again,
	// every storePoll, within the same bound.
	var rec store.Record
	var owned store.OwnedSub
	for {
		var ok bool
		var err error
		rec, ok, err = m.cfg.Store.Load(ctx, sid)
		if err != nil {
			return false, err
		}
		if ok {
			if owned, ok = rec.Subs[sub.ID]; ok {
				break
			}
		}
		if m.cfg.Owners == nil {
			return false, nil
		}
		poll := time.NewTimer(storePoll)
		select {
		case <-poll.C:
		case <-timer.C:
			poll.Stop()
			return false, nil
		case <-ctx.Done():
			poll.Stop()
			return false, ctx.Err()
		}
	}
	if !matchesRecord(rec, owned, sub) ||
		!(owned.Status == StatusPending || (msg.Duplicate && owned.Status == StatusActive)) {
		return false, nil
	}
	m.storeSub(ctx, sid, sub.ID, sub.Type, StatusActive)
	return true, nil
}

// storeSub records a subscription a session references, with its status, best effort.
func (m *Manager) storeSub(ctx context.Context, sid, subID, typ, status string) {
	if m.transportOf(typ) == eventsub.TransportWebSocket {
		return // it lives and dies with this process's Twitch session: nothing to adopt after a restart
	}
	owned := store.OwnedSub{ID: subID, Feed: feedOf(typ), Type: typ, Status: status}
	if err := m.cfg.Store.SaveSub(ctx, sid, owned, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		m.log.Warn("store subscription", "session", shortID(sid), "subscription_id", subID, "err", err)
	}
}

// routeNotification finds the sessions a notification is for and normalises its event.
func (m *Manager) routeNotification(ctx context.Context, sid string, msg *webhook.Message) (Route, error) {
	to, outcome := m.receivers(msg.Subscription)
	if outcome == "" && m.cfg.Registry != nil && msg.Subscription.Transport.Method != eventsub.TransportWebSocket {
		// Several instances: the sessions referencing it anywhere, also after its creator ended.
		var err error
		if to, err = m.registeredReceivers(ctx, msg.Subscription, to); err != nil && len(to) == 0 {
			return Route{}, err // Twitch retries
		}
	}
	if outcome == "" && len(to) == 0 {
		var err error
		to, outcome, err = m.storedReceiver(ctx, sid, msg.Subscription)
		if err != nil {
			return Route{}, err
		}
	}
	switch outcome {
	case OutcomeUnknownSession, OutcomeStray:
		m.deleteInBackground(msg.Subscription.ID)
		return Route{Outcome: outcome}, nil
	case OutcomeMismatch, OutcomeNotDelivering:
		return Route{Outcome: outcome}, nil
	}
	return routeEvent(msg, to), nil
}

// receivers returns the live sessions of this instance that hold sub while it delivers, or
// why nobody does: OutcomeMismatch (its id is ours, but not its type, version or condition),
// OutcomeNotDelivering (it is not pending or active). Neither and no session: the id is not
// in this instance's memory.
func (m *Manager) receivers(sub eventsub.Subscription) ([]string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.subs[sub.ID]
	switch {
	case sh == nil || len(sh.refs) == 0:
		return nil, ""
	case !matches(sh, sub):
		return nil, OutcomeMismatch
	case !usable(sh.status):
		return nil, OutcomeNotDelivering
	}
	return slices.Sorted(maps.Keys(sh.refs)), ""
}

// storedReceiver is for a notification no session in this instance's memory receives: the
// callback's session may be another instance's (in the store) and hold the subscription there.
func (m *Manager) storedReceiver(ctx context.Context, sid string, sub eventsub.Subscription) ([]string, string, error) {
	m.mu.Lock()
	inMemory := m.sessions[sid] != nil
	m.mu.Unlock()
	if inMemory { // it does not reference it: a stray
		return nil, OutcomeStray, nil
	}
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	switch {
	case err != nil:
		return nil, "", err
	case !ok:
		return nil, OutcomeUnknownSession, nil
	}
	o, byID := rec.Subs[sub.ID]
	switch {
	case !byID:
		return nil, OutcomeStray, nil
	case !matchesRecord(rec, o, sub):
		return nil, OutcomeMismatch, nil
	case !usable(o.Status):
		return nil, OutcomeNotDelivering, nil
	}
	return []string{sid}, "", nil
}

// routeRevocation marks the feed revoked with Twitch's reason in every referencing session
// and forgets the subscription.
func (m *Manager) routeRevocation(ctx context.Context, sid string, msg *webhook.Message) (Route, error) {
	sub := msg.Subscription
	m.mu.Lock()
	sh := m.subs[sub.ID]
	if sh != nil && !matches(sh, sub) {
		m.mu.Unlock()
		return Route{Outcome: OutcomeMismatch}, nil
	}
	refs := []string{sid}
	if sh != nil {
		refs = append(refs, keysExcept(sh.refs, sid)...)
	}
	m.mu.Unlock()
	for _, id := range refs {
		if err := m.cfg.Store.DeleteSub(ctx, id, sub.ID); err != nil {
			m.hookError("store delete", err)
			return Route{}, err
		}
	}
	if sh != nil {
		m.setShareStatus(ctx, sh, StatusRevoked, revocationReason(sub.Status), true)
	}
	m.forgetRegistered(ctx, sub.ID) // the next subscribe creates it again
	return Route{Outcome: OutcomeRevoked}, nil
}

func keysExcept(refs map[string]*session, except string) []string {
	out := make([]string, 0, len(refs))
	for id := range refs {
		if id != except {
			out = append(out, id)
		}
	}
	return out
}

// deleteInBackground deletes a subscription nobody owns, once, without holding up the answer.
func (m *Manager) deleteInBackground(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	if _, busy := m.deleting[id]; busy {
		m.mu.Unlock()
		return
	}
	m.deleting[id] = struct{}{}
	m.mu.Unlock()
	m.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
		defer cancel()
		if err := m.deleteSub(ctx, id); err != nil {
			m.log.Warn("delete unowned subscription", "subscription_id", id, "err", err)
		} else {
			m.log.Info("deleted unowned subscription", "subscription_id", id)
		}
		m.mu.Lock()
		delete(m.deleting, id)
		m.mu.Unlock()
	})
}
