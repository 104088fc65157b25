package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// handleCallback is POST /callback/{session_id}, Twitch's EventSub webhook, in a straight
// line: verify the raw request (webhook), ask the relay what the message means and who
// receives it (relay.Route), answer Twitch, and publish the event, encoded once, to every
// receiving session in the hub. Twitch sends a few KiB at once: a body that trickles in is cut
// off after callbackReadTimeout instead of holding a connection for long.
//
// Answers: 413 body too large; 400 missing or malformed headers; 403 bad signature (an unknown
// session's callback too: one body for all, so ids cannot be probed), stale or future
// timestamp, or a challenge we are not waiting for; 200 text/plain challenge (also when Twitch
// sends it again after losing our answer); 204 for everything else that was verified, shown
// or not (a duplicate, a revocation, a message for a subscription nobody holds or that does
// not match it, malformed JSON: never a retry storm); 503 when the dedupe or relay store is
// unreachable (the id is unmarked, so Twitch's retry is accepted).
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_ = http.NewResponseController(w).SetReadDeadline(start.Add(callbackReadTimeout))
	sid := chi.URLParam(r, "session_id")
	msg, err := s.verifier.Verify(r, sid)
	repeatedChallenge := errors.Is(err, webhook.ErrDuplicate) && msg.Type == eventsub.MessageTypeVerification
	if err != nil && !repeatedChallenge {
		code := webhook.StatusCode(err)
		answer(w, code)
		s.logRefusedWebhook(r.Context(), sid, msg, code, webhook.Outcome(err), err, start)
		return
	}
	rt, err := s.opt.Relay.Route(r.Context(), sid, msg)
	if err != nil {
		// Nothing was decided: unmark the id, so that Twitch's retry is accepted.
		if ferr := s.verifier.Forget(context.WithoutCancel(r.Context()), msg); ferr != nil {
			s.log.Error("webhook: forget message id", "message_id", msg.ID, "err", ferr)
		}
		answer(w, http.StatusServiceUnavailable)
		s.logWebhook(r.Context(), sid, msg, http.StatusServiceUnavailable, "store_error", err, start)
		return
	}
	code := http.StatusNoContent
	switch {
	case rt.Challenge != "":
		code = http.StatusOK
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, rt.Challenge)
	case rt.Refused:
		code = http.StatusForbidden
		answer(w, code)
	default:
		if len(rt.To) > 0 {
			m, err := hub.EventMessage(rt.Event, start)
			if err != nil { // cannot happen with webhook.Event's plain fields; never retried
				rt.Outcome, rt.Detail = "encode_error", err
			} else {
				s.opt.Hub.PublishTo(rt.To, m)
			}
		}
		answer(w, code)
	}
	s.logWebhook(r.Context(), sid, msg, code, rt.Outcome, rt.Detail, start)
}

// answer writes a status with a body that says nothing more than the status.
func answer(w http.ResponseWriter, code int) {
	if code == http.StatusNoContent {
		w.WriteHeader(code)
		return
	}
	http.Error(w, http.StatusText(code), code)
}

// logWebhook writes the one log line of a webhook (never the session id: a short hash) and
// counts it.
func (s *Server) logWebhook(ctx context.Context, sid string, msg *webhook.Message, code int, outcome string, err error, start time.Time) {
	var id, typ, evType string
	if msg != nil {
		id, typ, evType = msg.ID, msg.Type, msg.SubscriptionType
	}
	level := slog.LevelInfo
	switch {
	case code >= 500:
		level = slog.LevelError
	case outcome == relay.OutcomeUnknownMessage || outcome == relay.OutcomeUnknownType || outcome == relay.OutcomeMalformedEvent ||
		outcome == relay.OutcomeMismatch || outcome == "malformed_body" || outcome == relay.OutcomeUnexpected:
		level = slog.LevelWarn
	}
	attrs := []any{"message_id", id, "message_type", typ, "event_type", evType, "outcome", outcome,
		"status", code, "session", shortID(sid), "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Log(ctx, level, "webhook", attrs...)
	s.obs.Webhook(evType, outcome)
}
