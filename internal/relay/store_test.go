package relay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// testStore checks the Store contract on any implementation. expire makes ttl pass.
func testStore(t *testing.T, st Store, expire func()) {
	ctx := context.Background()
	lease := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	rec := Record{SessionID: "sess-a", UserID: "200002", UserLogin: "modmaria",
		Streamer: Streamer{ID: "100001", Login: "pixelpaladin", DisplayName: "PixelPaladin"}, LeaseUntil: lease,
		Subs: map[string]OwnedSub{"sub-1": {ID: "sub-1", Feed: FeedUserChanged, Type: eventsub.TypeUserUpdate, Status: StatusPending}}}
	if _, ok, err := st.Load(ctx, "sess-a"); ok || err != nil {
		t.Fatalf("Load before Save = %v, %v; want nothing", ok, err)
	}
	if err := st.Save(ctx, rec, time.Minute); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, ok, err := st.Load(ctx, "sess-a")
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if got.UserID != rec.UserID || got.Streamer != rec.Streamer || !got.LeaseUntil.Equal(lease) || got.Subs["sub-1"] != rec.Subs["sub-1"] {
		t.Fatalf("Load = %+v, want %+v", got, rec)
	}
	o := OwnedSub{ID: "sub-2", Feed: FeedStreamChanged, Type: eventsub.TypeStreamOnline, Status: StatusActive}
	if err := st.SaveSub(ctx, "sess-a", o, time.Minute); err != nil {
		t.Fatalf("SaveSub: %v", err)
	}
	if err := st.DeleteSub(ctx, "sess-a", "sub-1"); err != nil {
		t.Fatalf("DeleteSub: %v", err)
	}
	if err := st.Touch(ctx, map[string]time.Time{"sess-a": {}, "no-such-session": lease}, time.Minute); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	got, _, _ = st.Load(ctx, "sess-a")
	if len(got.Subs) != 1 || got.Subs["sub-2"] != o || !got.LeaseUntil.IsZero() {
		t.Fatalf("after SaveSub/DeleteSub/Touch: %+v", got)
	}
	if _, ok, _ := st.Load(ctx, "no-such-session"); ok {
		t.Fatal("Touch created a session that did not exist")
	}
	b := rec
	b.SessionID, b.Subs = "sess-b", nil
	if err := st.Save(ctx, b, time.Minute); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d records, %v; want 2", len(list), err)
	}
	if err := st.Delete(ctx, "sess-b"); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.List(ctx); len(list) != 1 || list[0].SessionID != "sess-a" {
		t.Fatalf("List after Delete = %+v, want sess-a only", list)
	}
	expire()
	if _, ok, _ := st.Load(ctx, "sess-a"); ok {
		t.Fatal("the record outlived its TTL")
	}
	if list, _ := st.List(ctx); len(list) != 0 {
		t.Fatalf("List after expiry = %+v, want none", list)
	}
}

func TestMemoryStore(t *testing.T) {
	st := NewMemoryStore()
	now := time.Now()
	st.now = func() time.Time { return now }
	testStore(t, st, func() { now = now.Add(time.Minute) })
}

func TestRedisStore(t *testing.T) {
	c := testRedis(t)
	p := redisPrefix(t, c)
	st := NewRedisStore(c, p)
	testStore(t, st, func() {
		// Let the keys expire now rather than waiting a minute.
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"s:*").Result()
		for _, k := range keys {
			c.PExpire(ctx, k, time.Millisecond)
		}
		for {
			if n, _ := c.Exists(ctx, keys...).Result(); n == 0 {
				return
			}
		}
	})
	ttl, _ := c.PTTL(context.Background(), p+"sessions").Result()
	if ttl > 0 {
		t.Errorf("the index has a TTL %v; it is pruned instead", ttl)
	}
}

// Redis down: every Store call is an error, never a panic; a callback answers 503.
func TestRedisStoreDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	defer c.Close()
	st := NewRedisStore(c, "")
	ctx := context.Background()
	if _, _, err := st.Load(ctx, "x"); err == nil {
		t.Error("Load with Redis down: nil error")
	}
	if err := st.Save(ctx, Record{SessionID: "x"}, time.Minute); err == nil {
		t.Error("Save with Redis down: nil error")
	}
	if _, err := st.List(ctx); err == nil {
		t.Error("List with Redis down: nil error")
	}
	if err := st.Touch(ctx, map[string]time.Time{"x": {}}, time.Minute); err == nil {
		t.Error("Touch with Redis down: nil error")
	}
	e := newEnv(t, nil)
	e.m = e.newManager(func(cfg *Config) { cfg.Store = st })
	body := notificationBody("sub-x", "stream.offline", `{"broadcaster_user_id":"100001"}`)
	if a := e.post("0123456789abcdef0123456789abcdef", "notification", "m-down", time.Now(), body, ""); a.status != 503 {
		t.Fatalf("callback with the store down: %d, want 503", a.status)
	}
	if err := e.m.Ensure(ctx, e.session("modmaria", "pixelpaladin")); err == nil {
		t.Fatal("Ensure with the store down: nil error")
	}
}

// With Redis, a restart loses nothing: the first process keeps its subscriptions at
// shutdown, the second adopts them at start-up and delivers the next event; dedupe is
// shared, so a message the first process accepted is a duplicate for the second.
func TestRedisRestartKeepsSubscriptions(t *testing.T) {
	c := testRedis(t)
	p := redisPrefix(t, c)
	e := newEnv(t, nil)
	e.store = NewRedisStore(c, p+"relay:")
	e.dedupe = webhook.NewRedisDeduper(c, p+"dedupe:", 0)
	e.m = e.newManager(nil)
	ctx := context.Background()
	s := e.session("modmaria", "pixelpaladin")
	e.m.SocketOpened(s.ID)
	e.ensure(s)
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "before restart")
	checkDelivered(t, "UpdateUser", ds, err)
	if err := e.m.Shutdown(ctx, true); err != nil {
		t.Fatalf("Shutdown(keep): %v", err)
	}
	if n := len(e.simSubs(s.ID)); n != 5 {
		t.Fatalf("after Shutdown(keep) the simulator has %d subscriptions, want 5", n)
	}
	e.m = e.newManager(nil) // the restarted process, same Redis
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if n := len(e.simSubs(s.ID)); n != 5 {
		t.Fatalf("after Reconcile the simulator has %d subscriptions, want 5", n)
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
	if err := e.m.End(ctx, s.ID, "logout"); err != nil {
		t.Fatal(err)
	}
}
