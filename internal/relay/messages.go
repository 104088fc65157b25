package relay

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// onChallenge answers a webhook_callback_verification only for a subscription created with
// this session's callback that is waiting for it. A challenge can arrive before our create
// call has returned its id, so while creates with this callback are in flight we wait for
// them (bounded).
func (m *Manager) onChallenge(w http.ResponseWriter, ctx context.Context, sid string, msg *webhook.Message) (int, string, error) {
	ok, err := m.expectsChallenge(ctx, sid, msg.Subscription)
	if err != nil {
		return http.StatusServiceUnavailable, outcomeStoreError, err
	}
	if !ok {
		return http.StatusForbidden, outcomeUnexpected, nil
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(msg.Challenge))
	return http.StatusOK, outcomeChallenge, nil
}

func (m *Manager) expectsChallenge(ctx context.Context, sid string, sub eventsub.Subscription) (bool, error) {
	timer := time.NewTimer(challengeWait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		if sh := m.subs[sub.ID]; sh != nil {
			ok := sh.creator == sid && sh.typ == sub.Type && sh.status == StatusPending
			m.mu.Unlock()
			if ok {
				m.setShareStatus(ctx, sh, StatusActive, "", false)
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
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	if err != nil || !ok {
		return false, err
	}
	owned, ok := rec.Subs[sub.ID]
	if !ok || owned.Type != sub.Type || owned.Status != StatusPending {
		return false, nil
	}
	m.storeSub(ctx, sid, sub.ID, sub.Type, StatusActive)
	return true, nil
}

// storeSub records a subscription a session references, with its status, best effort.
func (m *Manager) storeSub(ctx context.Context, sid, subID, typ, status string) {
	owned := OwnedSub{ID: subID, Feed: feedOf(typ), Type: typ, Status: status}
	if err := m.cfg.Store.SaveSub(ctx, sid, owned, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		m.log.Warn("store subscription", "session", shortID(sid), "subscription_id", subID, "err", err)
	}
}

// onNotification hands the event to every session that references its subscription, in the
// handler (the Sink never blocks, so each session's order is Twitch's), and answers at once.
// It answers 500 (Twitch retries) only when every delivery failed, so that one failing
// session cannot make the others see the event twice.
func (m *Manager) onNotification(ctx context.Context, sid string, msg *webhook.Message) (int, string, error) {
	to := m.receivers(msg.Subscription)
	if len(to) == 0 {
		known, owned, err := m.storedOwner(ctx, sid, msg.Subscription)
		switch {
		case err != nil:
			return http.StatusServiceUnavailable, outcomeStoreError, err
		case !known:
			m.deleteInBackground(msg.Subscription.ID)
			return http.StatusNoContent, outcomeUnknownSess, nil
		case !owned:
			m.deleteInBackground(msg.Subscription.ID)
			return http.StatusNoContent, outcomeStray, nil
		}
		to = []string{sid}
	}
	ev, err := webhook.Normalize(msg)
	outcome := "accepted"
	switch {
	case errors.Is(err, webhook.ErrUnknownType):
		outcome = outcomeUnknownType // delivered as a generic event, logged at Warn
	case err != nil:
		return http.StatusNoContent, outcomeMalformedEv, err
	}
	var errs []error
	for _, id := range to {
		if err := m.emit(Session{ID: id}, ev); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(to) {
		return http.StatusInternalServerError, outcomeHandlerError, errors.Join(errs...)
	}
	return http.StatusNoContent, outcome, errors.Join(errs...)
}

// storedOwner is for a notification no session in memory receives: it reports whether the
// callback's session is in the store (not in this instance's memory: another instance's),
// and whether it owns the subscription: by id, or by type and condition.
func (m *Manager) storedOwner(ctx context.Context, sid string, sub eventsub.Subscription) (known, owned bool, err error) {
	m.mu.Lock()
	inMemory := m.sessions[sid] != nil
	m.mu.Unlock()
	if inMemory { // it does not reference it: a stray
		return true, false, nil
	}
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	if err != nil || !ok {
		return false, false, err
	}
	_, byID := rec.Subs[sub.ID]
	s := Session{ID: sid, UserID: rec.UserID, Streamer: rec.Streamer}
	return true, byID || maps.Equal(sub.Condition, condition(sub.Type, s)), nil
}

// onRevocation marks the feed revoked with Twitch's reason in every referencing session and
// forgets the subscription.
func (m *Manager) onRevocation(ctx context.Context, sid string, msg *webhook.Message) (int, string, error) {
	sub := msg.Subscription
	m.mu.Lock()
	sh := m.subs[sub.ID]
	refs := []string{sid}
	if sh != nil {
		refs = append(refs, keysExcept(sh.refs, sid)...)
	}
	m.mu.Unlock()
	for _, id := range refs {
		if err := m.cfg.Store.DeleteSub(ctx, id, sub.ID); err != nil {
			m.hookError("store delete", err)
			return http.StatusServiceUnavailable, outcomeStoreError, err
		}
	}
	if sh != nil {
		m.setShareStatus(ctx, sh, StatusRevoked, revocationReason(sub.Status), true)
	}
	return http.StatusNoContent, outcomeRevoked, nil
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
