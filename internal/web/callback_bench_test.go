package web

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// BenchmarkLogWebhook is the one log line of an accepted notification, at LOG_LEVEL=info into
// a JSON handler, as in production (relaybench discards the bytes, as here).
func BenchmarkLogWebhook(b *testing.B) {
	s := &Server{log: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), obs: nopObserver{}}
	msg := &webhook.Message{ID: "b3c1e0a4-5f7d-4c2b-9a8e-1d2c3b4a5f6e", Type: eventsub.MessageTypeNotification, SubscriptionType: eventsub.TypeChannelUpdate}
	ctx := context.Background()
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.logWebhook(ctx, "0123456789abcdef0123456789abcdef", msg, 204, relay.OutcomeAccepted, nil, start)
	}
}
