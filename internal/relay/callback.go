package relay

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Webhook outcomes beyond webhook.Outcome's, for logs and OnWebhook.
const (
	outcomeChallenge    = "challenge"
	outcomeUnexpected   = "unexpected_challenge"
	outcomeRevoked      = "revoked"
	outcomeUnknownSess  = "unknown_session"
	outcomeStray        = "stray_subscription"
	outcomeUnknownType  = "unknown_type"
	outcomeUnknownMsg   = "unknown_message_type"
	outcomeMalformedEv  = "malformed_event"
	outcomeStoreError   = "store_error"
	outcomeHandlerError = "handler_error"
	outcomeMethod       = "method_not_allowed"
)

// HandleCallback is the POST /callback/{session_id} receiver. Mount it for every method: a
// GET (the legacy WebSub verb) gets 405 with Allow: POST. With chi:
//
//	r.HandleFunc("/callback/{session_id}", func(w http.ResponseWriter, r *http.Request) {
//		m.HandleCallback(w, r, chi.URLParam(r, "session_id"))
//	})
//
// Answers: 413 body too large; 400 missing or malformed headers; 403 bad signature, unknown
// session without its signature, stale or future timestamp, or a challenge we are not waiting
// for (one body for all, so ids cannot be probed); 204 duplicate (already handled), accepted
// notification or revocation, notification for an ended session (its subscription is
// deleted in the background), unknown message type or malformed JSON after a valid
// signature; 200 text/plain challenge; 503 dedupe or store unavailable and 500 when our
// handling failed (the message is unmarked, so Twitch's retry is accepted).
func (m *Manager) HandleCallback(w http.ResponseWriter, r *http.Request, sessionID string) {
	start := m.cfg.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		m.logWebhook(r.Context(), sessionID, nil, http.StatusMethodNotAllowed, outcomeMethod, nil, start)
		return
	}
	msg, err := m.verifier.Verify(r, sessionID)
	if err != nil {
		code := webhook.StatusCode(err)
		answer(w, code)
		m.logWebhook(r.Context(), sessionID, msg, code, webhook.Outcome(err), err, start)
		return
	}
	var code int
	var outcome string
	switch msg.Type {
	case eventsub.MessageTypeVerification:
		code, outcome, err = m.onChallenge(w, r.Context(), sessionID, msg)
	case eventsub.MessageTypeNotification:
		code, outcome, err = m.onNotification(r.Context(), sessionID, msg)
	case eventsub.MessageTypeRevocation:
		code, outcome, err = m.onRevocation(r.Context(), sessionID, msg)
	default:
		code, outcome = http.StatusNoContent, outcomeUnknownMsg
	}
	if code >= 500 {
		// Our failure after the id was marked: unmark, so Twitch's retry is accepted.
		if ferr := m.verifier.Forget(context.WithoutCancel(r.Context()), msg); ferr != nil {
			m.log.Error("webhook: forget message id", "message_id", msg.ID, "err", ferr)
		}
	}
	if code != http.StatusOK {
		answer(w, code)
	}
	m.logWebhook(r.Context(), sessionID, msg, code, outcome, err, start)
}

// answer writes a status with a body that says nothing more than the status.
func answer(w http.ResponseWriter, code int) {
	if code == http.StatusNoContent {
		w.WriteHeader(code)
		return
	}
	http.Error(w, http.StatusText(code), code)
}

// logWebhook writes the one log line of a webhook and calls OnWebhook.
func (m *Manager) logWebhook(ctx context.Context, sid string, msg *webhook.Message, code int, outcome string, err error, start time.Time) {
	var id, typ, evType string
	if msg != nil {
		id, typ, evType = msg.ID, msg.Type, msg.SubscriptionType
	}
	level := slog.LevelInfo
	switch {
	case code >= 500:
		level = slog.LevelError
	case outcome == outcomeUnknownMsg || outcome == outcomeUnknownType || outcome == outcomeMalformedEv ||
		outcome == "malformed_body" || outcome == outcomeUnexpected:
		level = slog.LevelWarn
	}
	attrs := []any{"message_id", id, "message_type", typ, "event_type", evType, "outcome", outcome,
		"status", code, "session", shortID(sid), "duration", m.cfg.Now().Sub(start)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	m.log.Log(ctx, level, "webhook", attrs...)
	if m.cfg.OnWebhook != nil {
		m.cfg.OnWebhook(evType, outcome)
	}
}

// onChallenge answers a webhook_callback_verification only for a subscription this session
// is waiting for. A challenge can arrive before our create call has returned its id, so
// while the session has creates in flight we wait for them (bounded).
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
		ss := m.sessions[sid]
		if ss == nil {
			m.mu.Unlock()
			break
		}
		if typ, st := ss.bySubID(sub.ID); st != nil {
			ok := typ == sub.Type && st.status == StatusPending
			m.mu.Unlock()
			if ok {
				m.setStatus(ss, typ, StatusActive, "")
				m.storeSubStatus(ctx, sid, sub.ID, typ, StatusActive)
			}
			return ok, nil
		}
		if ss.creating == 0 {
			m.mu.Unlock()
			return false, nil
		}
		changed := ss.changed
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
	m.storeSubStatus(ctx, sid, sub.ID, sub.Type, StatusActive)
	return true, nil
}

// storeSubStatus records a subscription's new status, best effort.
func (m *Manager) storeSubStatus(ctx context.Context, sid, subID, typ, status string) {
	owned := OwnedSub{ID: subID, Feed: feedOf(typ), Type: typ, Status: status}
	if err := m.cfg.Store.SaveSub(ctx, sid, owned, m.storeTTL()); err != nil {
		m.hookError("store save", err)
		m.log.Warn("store subscription status", "session", shortID(sid), "subscription_id", subID, "err", err)
	}
}

// onNotification hands the event to the Sink and answers at once.
func (m *Manager) onNotification(ctx context.Context, sid string, msg *webhook.Message) (int, string, error) {
	known, owned, err := m.owner(ctx, sid, msg.Subscription)
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
	ev, err := webhook.Normalize(msg)
	outcome := "accepted"
	switch {
	case errors.Is(err, webhook.ErrUnknownType):
		outcome = outcomeUnknownType // delivered as a generic event, logged at Warn
	case err != nil:
		return http.StatusNoContent, outcomeMalformedEv, err
	}
	if err := m.emit(Session{ID: sid}, ev); err != nil {
		return http.StatusInternalServerError, outcomeHandlerError, err
	}
	return http.StatusNoContent, outcome, nil
}

// owner reports whether the session exists (this instance's memory, else the store) and
// whether it owns the subscription: by id, or by type and condition (a subscription whose id
// we failed to store).
func (m *Manager) owner(ctx context.Context, sid string, sub eventsub.Subscription) (known, owned bool, err error) {
	m.mu.Lock()
	if ss := m.sessions[sid]; ss != nil {
		_, st := ss.bySubID(sub.ID)
		owned = st != nil || maps.Equal(sub.Condition, condition(sub.Type, ss.s))
		m.mu.Unlock()
		return true, owned, nil
	}
	m.mu.Unlock()
	rec, ok, err := m.cfg.Store.Load(ctx, sid)
	if err != nil || !ok {
		return false, false, err
	}
	_, byID := rec.Subs[sub.ID]
	s := Session{ID: sid, UserID: rec.UserID, Streamer: rec.Streamer}
	return true, byID || maps.Equal(sub.Condition, condition(sub.Type, s)), nil
}

// onRevocation marks the feed revoked with Twitch's reason and forgets the subscription.
func (m *Manager) onRevocation(ctx context.Context, sid string, msg *webhook.Message) (int, string, error) {
	sub := msg.Subscription
	if err := m.cfg.Store.DeleteSub(ctx, sid, sub.ID); err != nil {
		m.hookError("store delete", err)
		return http.StatusServiceUnavailable, outcomeStoreError, err
	}
	m.mu.Lock()
	ss := m.sessions[sid]
	var typ string
	if ss != nil {
		var st *typeState
		if typ, st = ss.bySubID(sub.ID); st != nil {
			st.subID = ""
		}
	}
	m.mu.Unlock()
	if typ != "" {
		m.setStatus(ss, typ, StatusRevoked, revocationReason(sub.Status))
	}
	return http.StatusNoContent, outcomeRevoked, nil
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
