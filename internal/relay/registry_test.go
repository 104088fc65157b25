package relay

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/lock"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// TestSharedSubscriptionsAcrossInstances: three instances (Managers on one Redis: store,
// claims, the registry of internal/lock) subscribe three sessions watching one streamer at
// once. Each (type, condition) exists once in Twitch; a notification reaching any instance
// goes to all three sessions, also after the creator's session ended; the last session
// to end, wherever, deletes them.
func TestSharedSubscriptionsAcrossInstances(t *testing.T) {
	c := testRedis(t)
	keys := store.NewKeys(redistest.Prefix(t, c))
	e := newEnv(t, nil)
	e.store = store.NewRedisRelay(c, keys)
	e.dedupe = store.NewRedisDedupe(c, keys, webhook.DedupeTTL)
	owners := newFakeOwners()
	var ms []*Manager
	for _, name := range []string{"a", "b", "c"} {
		shares := lock.NewShares(lock.NewRedis(c, keys, name))
		m := e.newManager(func(cfg *Config) { cfg.Owners, cfg.Registry = instanceOwners{owners, name}, shares })
		owners.mu.Lock()
		owners.managers[name] = m
		owners.mu.Unlock()
		ms = append(ms, m)
	}
	e.handler.Store(ms[2]) // Twitch's callbacks reach c
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	users := []string{"modmaria", "chatterbox42", "lurker_lou"}
	ss := make([]Session, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		ss[i] = e.session(u, "pixelpaladin")
		ms[i].SocketOpened(ss[i].ID)
		wg.Go(func() {
			if err := ms[i].SubscribeToAllEvents(ctx, ss[i]); err != nil {
				t.Errorf("%s on instance %d: %v", u, i, err)
			}
		})
	}
	wg.Wait()
	for _, s := range ss {
		e.sink.wait(t, "no feed pending for "+s.UserLogin, func() bool {
			got := e.sink.statuses[s.ID]
			for _, f := range got {
				if f.Status == StatusPending {
					return false
				}
			}
			return len(got) == len(feedOrder)
		})
	}
	count := map[string]int{}
	var ids []string
	for _, sub := range e.sim.Subscriptions() {
		cond, _ := json.Marshal(sub.Condition)
		count[sub.Type+" "+string(cond)]++
		ids = append(ids, sub.ID)
		if _, err := e.sim.WaitVerified(ctx, sub.ID); err != nil {
			t.Fatalf("WaitVerified %s: %v", sub.Type, err)
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%d identical subscriptions %s across the instances, want 1", n, k)
		}
	}
	if len(count) < 4 { // the broadcaster's 4 shared ones, and the follows of those who moderate
		t.Fatalf("only %d distinct subscriptions: %v", len(count), count)
	}

	delivered := func(what string, want map[string]int) {
		t.Helper()
		ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", what)
		checkDelivered(t, "UpdateUser", ds, err)
		for _, s := range ss {
			if n := len(e.sink.Events(s.ID)); n != want[s.ID] {
				t.Errorf("%s: %s's session has %d events, want %d", what, s.UserLogin, n, want[s.ID])
			}
		}
	}
	delivered("to all three", map[string]int{ss[0].ID: 1, ss[1].ID: 1, ss[2].ID: 1})

	// Every session's end but the last deletes nothing, whichever instance created what.
	for i := range 2 {
		if err := ms[i].UnsubscribeFromAllEvents(ctx, ss[i].ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	e.handler.Store(ms[0]) // a callback to an instance that holds none of them now
	delivered("to the last one", map[string]int{ss[0].ID: 1, ss[1].ID: 1, ss[2].ID: 2})
	shared := 0
	for _, sub := range e.sim.Subscriptions() {
		if sub.Type != "channel.follow" {
			shared++
		}
	}
	if shared != 5 {
		t.Fatalf("%d of the streamer's 5 subscriptions left while a session still references them", shared)
	}
	if err := ms[2].UnsubscribeFromAllEvents(ctx, ss[2].ID, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e.waitGone(id)
	}
	if n, err := c.Keys(ctx, keys.Share("*")).Result(); err != nil || len(n) != 0 {
		t.Errorf("registry keys left: %v %v", n, err)
	}
}
