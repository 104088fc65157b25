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
// off after callbackReadTimeout instead of holding a connection for long. The 204 of an event
// whose receiving socket is far behind waits until that socket has drained (at most
// callbackPaceWait): bursts are paced by the sockets instead of outrunning their history.
//
// Answers: 413 body too large; 400 missing or malformed headers; 403 bad signature (an unknown
// session's callback too: one body for all, so ids cannot be probed), stale or future
// timestamp, or a challenge we are not waiting for; 200 text/plain challenge (also when Twitch
// sends it again after losing our answer); 204 for everything else that was verified, shown
// or not (a duplicate, a revocation, a message for a subscription nobody holds or that does
// not match it, malformed JSON: never a retry storm); 503 when the dedupe or relay store is
// unreachable (the id is unmarked, so Twitch's retry is accepted), or, unread, with
// Retry-After when Limits.CallbackReads bodies are already being read.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_ = http.NewResponseController(w).SetReadDeadline(start.Add(callbackReadTimeout))
	sid := chi.URLParam(r, "session_id")
	body := &boundedBody{ReadCloser: r.Body, slots: s.bodies}
	defer body.release()
	r.Body = body
	msg, err := s.verifier.Verify(r, sid)
	body.release() // read and verified: the slot is free for the next body
	if !body.eof {
		// Refused before the whole body was read: close the connection after the answer
		// instead of letting net/http wait for (and read) the rest of what was announced.
		w.Header().Set("Connection", "close")
	}
	repeatedChallenge := errors.Is(err, webhook.ErrDuplicate) && msg.Type == eventsub.MessageTypeVerification
	if errors.Is(err, errBodiesBusy) {
		w.Header().Set("Retry-After", callbackRetryAfter)
		answer(w, http.StatusServiceUnavailable)
		s.logWebhook(r.Context(), sid, msg, http.StatusServiceUnavailable, "busy", err, start)
		return
	}
	// With a broker the append is itself idempotent by message id (it remembers every id
	// for webhook.DedupeTTL), and a mark without an append (left by an instance that died in
	// between) must not swallow Twitch's retry: notifications are not marked at all
	// (webhook.Verifier.IdempotentNotifications: one round trip to Redis per callback, the
	// append), and one marked anyway (a verifier without that option) goes on to the broker
	// too. Either way it is stored, and shown, at most once; a duplicate answers 204.
	repeatedNotification := errors.Is(err, webhook.ErrDuplicate) && msg.Type == eventsub.MessageTypeNotification && s.opt.Hub.Brokered()
	if err != nil && !repeatedChallenge && !repeatedNotification {
		code := webhook.StatusCode(err)
		answer(w, code)
		s.logRefusedWebhook(r.Context(), sid, msg, code, webhook.Outcome(err), err, start)
		return
	}
	if repeatedNotification {
		msg.Duplicate = false // routed again (relay.Route drops duplicates): the broker stores it once
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
			// Encoded once for every receiver, Twitch's raw event forwarded as received.
			m := hub.Message{Type: "event_updated", Event: rt.Event.AppendJSON(nil), Time: start, Valid: true}
			m.ID = sid + ":" + msg.ID // a broker stores Twitch's retry of it once
			pace, err := s.opt.Hub.DeliverPaced(rt.To, m)
			if err != nil {
				// Not stored (Redis unreachable): unmark the id, so that Twitch's retry is accepted.
				if ferr := s.verifier.Forget(context.WithoutCancel(r.Context()), msg); ferr != nil {
					s.log.Error("webhook: forget message id", "message_id", msg.ID, "err", ferr)
				}
				code, rt.Outcome, rt.Detail = http.StatusServiceUnavailable, "broker_error", err
			} else if pace != nil {
				// A receiving socket is far behind but draining: answer when it has caught up
				// (at most callbackPaceWait), so that a burst of callbacks cannot outrun it by
				// more than the history holds. The event is already published and kept.
				t := time.NewTimer(callbackPaceWait)
				select {
				case <-pace:
				case <-t.C:
				case <-r.Context().Done():
				}
				t.Stop()
			}
		}
		answer(w, code)
	}
	s.logWebhook(r.Context(), sid, msg, code, rt.Outcome, rt.Detail, start)
}

// errBodiesBusy: every callback read slot is taken; the body was not read.
var errBodiesBusy = errors.New("web: too many callback bodies being read")

// boundedBody takes one of slots on its first Read, so that a request the verifier refuses
// on its headers takes none, and a body is only read while a slot is held. Taking one never
// waits: a full set of slots fails the Read with errBodiesBusy.
type boundedBody struct {
	io.ReadCloser
	slots chan struct{}
	held  bool
	done  bool // released: reading again would be unbounded
	eof   bool // the whole body was read
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if !b.held {
		if b.done {
			return 0, errBodiesBusy
		}
		select {
		case b.slots <- struct{}{}:
			b.held = true
		default:
			b.done = true
			return 0, errBodiesBusy
		}
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// release gives the slot back; safe to call more than once.
func (b *boundedBody) release() {
	if b.held {
		<-b.slots
		b.held = false
	}
	b.done = true
}

// CallbackBodiesReading is how many callback bodies are being read now (a metric, and what
// tests wait on).
func (s *Server) CallbackBodiesReading() int { return len(s.bodies) }

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
	if s.log.Enabled(ctx, level) {
		// LogAttrs: no boxing of every value into an interface, one line per callback.
		attrs := [8]slog.Attr{slog.String("message_id", id), slog.String("message_type", typ), slog.String("event_type", evType),
			slog.String("outcome", outcome), slog.Int("status", code), slog.String("session", shortID(sid)),
			slog.Duration("duration", time.Since(start))}
		n := 7
		if err != nil {
			attrs[n] = slog.Any("err", err)
			n++
		}
		s.log.LogAttrs(ctx, level, "webhook", attrs[:n]...)
	}
	s.obs.Webhook(evType, outcome)
}
