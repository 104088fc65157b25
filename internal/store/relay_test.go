package store

import (
	"context"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// testStore checks the Store contract on any implementation. expire makes ttl pass.
func testStore(t *testing.T, st relayStore, expire func()) {
	ctx := context.Background()
	lease := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	rec := Record{SessionID: "sess-a", UserID: "200002", UserLogin: "modmaria",
		Streamer: Streamer{ID: "100001", Login: "pixelpaladin", DisplayName: "PixelPaladin"}, LeaseUntil: lease,
		Subs: map[string]OwnedSub{"sub-1": {ID: "sub-1", Feed: "user_changed", Type: eventsub.TypeUserUpdate, Status: "pending"}}}
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
	o := OwnedSub{ID: "sub-2", Feed: "stream_changed", Type: eventsub.TypeStreamOnline, Status: "active"}
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
	seen := time.Date(2026, 12, 2, 12, 0, 0, 123456789, time.UTC)
	if err := st.SaveFollowsSeen(ctx, "sess-a", seen); err != nil {
		t.Fatalf("SaveFollowsSeen: %v", err)
	}
	if err := st.SaveFollowsSeen(ctx, "no-such-session", seen); err != nil {
		t.Fatalf("SaveFollowsSeen of a missing session: %v", err)
	}
	if got, _, _ = st.Load(ctx, "sess-a"); !got.FollowsSeen.Equal(seen) || len(got.Subs) != 1 {
		t.Fatalf("after SaveFollowsSeen: %+v, want follows seen %v and the subscription kept", got, seen)
	}
	if _, ok, _ := st.Load(ctx, "no-such-session"); ok {
		t.Fatal("SaveFollowsSeen created a session that did not exist")
	}
	resaved := got
	if err := st.Save(ctx, resaved, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = st.Load(ctx, "sess-a"); !got.FollowsSeen.Equal(seen) {
		t.Fatalf("Save lost FollowsSeen: %+v", got)
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

func TestMemoryRelay(t *testing.T) {
	st := NewMemoryRelay()
	now := time.Now()
	st.now = func() time.Time { return now }
	testStore(t, st, func() { now = now.Add(time.Minute) })
}

func TestRedisRelay(t *testing.T) {
	c := redistest.Client(t)
	p := redistest.Prefix(t, c)
	st := NewRedisRelay(c, NewKeys(p))
	testStore(t, st, func() {
		// Let the keys expire now rather than waiting a minute.
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"relay:s:*").Result()
		for _, k := range keys {
			c.PExpire(ctx, k, time.Millisecond)
		}
		for {
			if n, _ := c.Exists(ctx, keys...).Result(); n == 0 {
				return
			}
		}
	})
	ttl, _ := c.PTTL(context.Background(), p+"relay:sessions").Result()
	if ttl > 0 {
		t.Errorf("the index has a TTL %v; it is pruned instead", ttl)
	}
}

// Redis down: every call is an error, never a panic.
func TestRedisRelayDown(t *testing.T) {
	c := redistest.Down(t)
	st := NewRedisRelay(c, NewKeys(""))
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
}
