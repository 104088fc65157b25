package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// With Redis, a restart keeps users logged in and their subscriptions working: the same
// cookie still works, the Twitch subscriptions are kept (not recreated), and events after the
// restart reach the reconnected socket, numbered on from where the old process stopped.
func TestRedisRestartKeepsSessionAndSubscriptions(t *testing.T) {
	h := apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t)})
	b, s := watcher(t, h, "modmaria", "pixelpaladin")
	if _, err := h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "before restart", ""); err != nil {
		t.Fatal(err)
	}
	before := nextEvent(t, s)
	subsBefore := map[string]string{}
	for _, sub := range h.Sim.Subscriptions() {
		subsBefore[sub.ID] = sub.Status
	}

	h2 := h.Restart()
	// The socket was told "going away"; the page reconnects to the new process.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		if _, err := s.Next(ctx); err != nil {
			break
		}
	}
	status, body, err := b.Get("/stream")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "PixelPaladin") {
		t.Fatalf("after restart /stream = %d %v (not logged in any more?)\n%.300s", status, err, body)
	}
	for _, sub := range h2.Sim.Subscriptions() {
		if st, ok := subsBefore[sub.ID]; !ok || st != sub.Status {
			t.Errorf("subscription %s %s: before restart %q (kept: %v), now %q", sub.ID, sub.Type, st, ok, sub.Status)
		}
	}
	if len(h2.Sim.Subscriptions()) != len(subsBefore) {
		t.Errorf("%d subscriptions after restart, %d before", len(h2.Sim.Subscriptions()), len(subsBefore))
	}
	s2, err := b.Connect(ctx, before.Epoch, before.Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := h2.Sim.UpdateChannel(t.Context(), "pixelpaladin", "after restart", ""); err != nil {
		t.Fatal(err)
	}
	f := nextEvent(t, s2)
	if f.Event.Title != "after restart" {
		t.Fatalf("after restart got %s", f.Raw)
	}
	// The numbering lives in Redis (internal/broker), not in the process: the new process
	// continues the session's sequence in the same epoch, so a page resumes across it.
	if f.Epoch != before.Epoch || f.Seq != before.Seq+1 {
		t.Errorf("after restart: epoch %s seq %d, want the same epoch %s and seq %d", f.Epoch, f.Seq, before.Epoch, before.Seq+1)
	}
}

func TestRedisSessionsLogin(t *testing.T) {
	h := apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t)})
	b := h.NewBrowser()
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := b.ChooseStreamer("cozycrafter"); status != http.StatusOK || !strings.Contains(body, "CozyCrafter") {
		t.Fatalf("choose = %d", status)
	}
	if status, err := b.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("logout = %d %v", status, err)
	}
	if _, body, _ := b.Get("/"); !strings.Contains(body, "Log in with Twitch") {
		t.Fatal("still logged in after logout with Redis sessions")
	}
}
