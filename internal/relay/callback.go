package relay

import (
	"context"
	"log/slog"
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
// notification or revocation (handed to every live session that references the
// subscription, whichever session's callback it came on), notification for a subscription no
// live session references (deleted in the background), unknown message type or malformed JSON
// after a valid signature; 200 text/plain challenge; 503 dedupe or store unavailable and 500
// when our handling failed for every receiving session (the message is unmarked, so Twitch's
// retry is accepted).
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
