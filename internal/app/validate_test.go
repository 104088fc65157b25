package app_test

import (
	"context"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// With Redis, the hourly round validates a live session's token once per hour whichever
// instance runs it and however often (the claim is in Redis: instance B's round finds
// instance A's claim exactly as A's second round does); without Redis, every round validates.
func TestHourlyValidationOncePerSessionWithRedis(t *testing.T) {
	for _, tc := range []struct {
		name   string
		redis  string
		rounds int
		want   int
	}{
		{"memory", "", 3, 3},
		{"redis", redistest.URL(t), 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{RedisURL: tc.redis})
			h.Watch(t, "modmaria", "pixelpaladin")
			ctx, cancel := context.WithTimeout(context.Background(), wsWait)
			defer cancel()
			before := h.Sim.Validations() // the login's
			for range tc.rounds {
				h.App.Web.ValidateLive(ctx)
			}
			if got := h.Sim.Validations() - before; got != tc.want {
				t.Errorf("%d rounds validated the token %d times, want %d", tc.rounds, got, tc.want)
			}
		})
	}
}
