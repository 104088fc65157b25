package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// twitchMessageTimeout bounds the handling of one message read from a Twitch WebSocket
// session (the dedupe and relay stores).
const twitchMessageTimeout = 10 * time.Second

// WebSocketRelay is what a message from a Twitch WebSocket session needs of the relay.
type WebSocketRelay interface {
	RouteWebSocket(ctx context.Context, userID string, msg *webhook.Message) (relay.Route, error)
}

// TwitchMessage is the WebSocket transport's twin of handleCallback: a notification or
// revocation read from userID's Twitch WebSocket session (internal/eventsubws, which has
// de-duplicated it across its connections already) goes through the same dedupe store as a
// webhook, then the relay says who receives it (relay.RouteWebSocket) and the event, encoded
// once, is published to them in the hub. Nothing is answered: Twitch expects no reply on
// this transport. It never blocks on a browser (the hub does not).
func (s *Server) TwitchMessage(rt WebSocketRelay, userID string, msg *webhook.Message) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), twitchMessageTimeout)
	defer cancel()
	if d := s.verifier.Dedupe; d != nil {
		seen, err := d.Seen(ctx, "websocket:"+userID+":"+msg.ID)
		if err != nil { // fail closed, as the callback does; Twitch will not resend it
			s.logTwitchMessage(ctx, userID, msg, "dedupe_error", err, start)
			return
		}
		msg.Duplicate = seen
	}
	r, err := rt.RouteWebSocket(ctx, userID, msg)
	if err != nil {
		s.logTwitchMessage(ctx, userID, msg, "store_error", err, start)
		return
	}
	if len(r.To) > 0 {
		m, err := hub.EventMessage(r.Event, start)
		if err != nil {
			r.Outcome, r.Detail = "encode_error", err
		} else {
			m.ID = "websocket:" + userID + ":" + msg.ID // a broker stores the same Twitch message once
			s.opt.Hub.PublishTo(r.To, m)
		}
	}
	s.logTwitchMessage(ctx, userID, msg, r.Outcome, r.Detail, start)
}

// logTwitchMessage writes the one log line of a Twitch WebSocket message and counts it with
// the webhooks (the transport is a label of the line, not of the metric).
func (s *Server) logTwitchMessage(ctx context.Context, userID string, msg *webhook.Message, outcome string, err error, start time.Time) {
	level := slog.LevelInfo
	switch outcome {
	case "dedupe_error", "store_error", "encode_error":
		level = slog.LevelError
	case relay.OutcomeUnknownType, relay.OutcomeMalformedEvent, relay.OutcomeMismatch, relay.OutcomeUnknownMessage:
		level = slog.LevelWarn
	}
	attrs := []any{"transport", "websocket", "message_id", msg.ID, "message_type", msg.Type, "event_type", msg.SubscriptionType,
		"outcome", outcome, "user_id", userID, "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Log(ctx, level, "twitch message", attrs...)
	s.obs.Webhook(msg.SubscriptionType, outcome)
}
