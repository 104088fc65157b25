package relay

import (
	"context"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// The store down: subscribing fails with an error, and a callback's Route fails, so the
// handler answers 503 and Twitch retries.
func TestStoreDown(t *testing.T) {
	c := redistest.Down(t)
	e := newEnv(t, nil)
	e.m = e.newManager(func(cfg *Config) { cfg.Store = store.NewRedisRelay(c, store.NewKeys("")) })
	ctx := context.Background()
	body := notificationBody("sub-x", "stream.offline", `{"broadcaster_user_id":"100001"}`)
	if a := e.post("0123456789abcdef0123456789abcdef", "notification", "m-down", time.Now(), body, ""); a.status != 503 {
		t.Fatalf("callback with the store down: %d, want 503", a.status)
	}
	if err := e.m.SubscribeToAllEvents(ctx, e.session("modmaria", "pixelpaladin")); err == nil {
		t.Fatal("SubscribeToAllEvents with the store down: nil error")
	}
}

// With Redis, a restart loses nothing: the first process keeps its subscriptions at
// shutdown, the second adopts them at start-up and delivers the next event; dedupe is
// shared, so a message the first process accepted is a duplicate for the second.
func TestRedisRestartKeepsSubscriptions(t *testing.T) {
	e := newRedisEnv(t)
	ctx := context.Background()
	s := e.session("modmaria", "pixelpaladin")
	e.m.SocketOpened(s.ID)
	e.ensure(s)
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "before restart")
	checkDelivered(t, "UpdateUser", ds, err)
	if err := e.m.Shutdown(ctx, true); err != nil {
		t.Fatalf("Shutdown(keep): %v", err)
	}
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Fatalf("after Shutdown(keep) the simulator has %d subscriptions, want 6", n)
	}
	e.m = e.newManager(nil) // the restarted process, same Redis
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if n := len(e.simSubs(s.ID)); n != 6 {
		t.Fatalf("after Reconcile the simulator has %d subscriptions, want 6", n)
	}
	ds, err = e.sim.UpdateUser(ctx, "pixelpaladin", "after restart")
	checkDelivered(t, "UpdateUser", ds, err)
	got := e.sink.Events(s.ID)
	if len(got) != 2 || got[1].Type != eventsub.TypeUserUpdate {
		t.Fatalf("events across the restart = %+v, want two user.update", got)
	}
	// Twitch re-sends the first message to the new process: a duplicate.
	body := notificationBody(subOfType(t, e, s.ID, eventsub.TypeUserUpdate).ID, eventsub.TypeUserUpdate, `{"user_id":"100001"}`)
	if a := e.post(s.ID, "notification", got[0].ID, time.Now(), body, ""); a.status != 204 {
		t.Fatalf("re-sent message: %d, want 204", a.status)
	}
	if n := len(e.sink.Events(s.ID)); n != 2 {
		t.Fatalf("a message accepted before the restart was delivered again (%d events)", n)
	}
	if err := e.m.UnsubscribeFromAllEvents(ctx, s.ID, "logout"); err != nil {
		t.Fatal(err)
	}
}
