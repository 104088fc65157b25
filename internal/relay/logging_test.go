package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/webhook"

	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
)

type syncBuffer = syncbuf.Buffer

// One log line per webhook with message id, type and outcome, and the metrics hook; never
// the session id, its secret or the user's token.
func TestWebhookLogsAndMetrics(t *testing.T) {
	var logs syncBuffer
	var mu sync.Mutex
	outcomes := map[string]int{}
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.OnWebhook = func(_, outcome string) { mu.Lock(); outcomes[outcome]++; mu.Unlock() }
	})
	s := e.session("pixelpaladin", "pixelpaladin")
	e.ensure(s)
	ctx := context.Background()
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "logged")
	checkDelivered(t, "UpdateUser", ds, err)
	e.post(s.ID, "notification", "m-forged", time.Now(), `{}`, "not the secret")
	e.post(s.ID, "notification", ds[0].MessageID, time.Now(), `{}`, "") // replay
	if err := e.m.End(ctx, s.ID, "logout"); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	for _, o := range []string{"challenge", "accepted", "bad_signature", "duplicate"} {
		if outcomes[o] == 0 {
			t.Errorf("OnWebhook never saw outcome %q (saw %v)", o, outcomes)
		}
	}
	if outcomes["challenge"] != 5 {
		t.Errorf("%d challenges answered, want 5", outcomes["challenge"])
	}
	mu.Unlock()

	out := logs.String()
	tok, _ := s.UserToken.Token(ctx)
	for name, secret := range map[string]string{"session id": s.ID, "webhook secret": webhook.Secret(testSecret, s.ID),
		"server secret": string(testSecret), "user token": tok} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	var webhooks int
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] != "webhook" {
			continue
		}
		webhooks++
		for _, k := range []string{"message_id", "message_type", "outcome", "status", "session"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("webhook log line without %s: %s", k, line)
			}
		}
	}
	if webhooks != 8 { // 5 challenges, 1 notification, 1 forged, 1 replay
		t.Errorf("%d webhook log lines, want 8 (one per callback)", webhooks)
	}
}

// Run sweeps until its context ends and leaves nothing running (goleak checks at exit).
func TestRunStops(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.m.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context ended")
	}
}
