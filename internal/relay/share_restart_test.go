package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// With Redis, a restart rebuilds the sharing: the second process adopts every session with
// the subscriptions it references, an event reaches them all (also after the creator ends),
// and ending them all deletes the subscriptions.
func TestRedisRestartRebuildsSharing(t *testing.T) {
	e := newRedisEnv(t)
	ctx := context.Background()
	var ss []Session
	for range 3 {
		ss = append(ss, e.session("modmaria", "pixelpaladin"))
	}
	e.ensure(ss[0])
	e.ensureAll(ss[1:]...)
	subs := checkOnePerCondition(t, e, 6)
	if err := e.m.Shutdown(ctx, true); err != nil {
		t.Fatalf("Shutdown(keep): %v", err)
	}
	e.m = e.newManager(nil)
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	checkOnePerCondition(t, e, 6)
	for _, s := range ss {
		if f := statusOf(e.m.Statuses(s.ID), FeedStreamChanged); f.Status != StatusActive {
			t.Fatalf("after Reconcile stream_changed = %+v, want active", f)
		}
	}
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "after restart")
	checkDelivered(t, "UpdateUser", ds, err)
	for i, s := range ss {
		if got := e.sink.Events(s.ID); len(got) != 1 || got[0].Type != eventsub.TypeUserUpdate {
			t.Errorf("session %d got %+v after the restart, want one user.update", i, got)
		}
	}
	if err := e.m.UnsubscribeFromAllEvents(ctx, ss[0].ID, "logout"); err != nil { // the creator
		t.Fatal(err)
	}
	checkOnePerCondition(t, e, 6)
	ds, err = e.sim.EndStream(ctx, "pixelpaladin")
	checkDelivered(t, "EndStream", ds, err)
	for i, s := range ss[1:] {
		if got := e.sink.Events(s.ID); len(got) != 2 || got[1].Type != eventsub.TypeStreamOffline {
			t.Errorf("session %d got %+v, want user.update then stream.offline", i+1, got)
		}
	}
	for _, s := range ss[1:] {
		if err := e.m.UnsubscribeFromAllEvents(ctx, s.ID, "logout"); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range subs {
		e.waitGone(sub.ID)
	}
}

// Reconcile neither adopts nor keeps a stored session whose lease has passed: its record is
// deleted and its subscriptions too, unless a live session shares them.
func TestReconcileSkipsStaleRecords(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	alone := e.session("lurker_lou", "cozycrafter")  // stale, shares nothing
	creator := e.session("modmaria", "pixelpaladin") // stale, shared with viewer
	viewer := e.session("modmaria", "pixelpaladin")  // live
	e.ensure(alone)
	aloneSubs := e.simSubs(alone.ID)
	e.ensure(creator)
	e.ensure(viewer)
	shared := e.simSubs(creator.ID)
	if len(aloneSubs) != 5 || len(shared) != 6 || len(e.simSubs(viewer.ID)) != 0 {
		t.Fatalf("subscriptions: alone %d, creator %d, viewer %d; want 5, 6, 0",
			len(aloneSubs), len(shared), len(e.simSubs(viewer.ID)))
	}
	if err := e.m.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second)
	if err := e.store.Touch(ctx, map[string]time.Time{alone.ID: past, creator.ID: past}, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.m = e.newManager(nil)
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, sub := range aloneSubs {
		e.waitGone(sub.ID)
	}
	for _, sid := range []string{alone.ID, creator.ID} {
		if e.m.Statuses(sid) != nil {
			t.Error("a stale session was adopted")
		}
		if _, ok, _ := e.store.Load(ctx, sid); ok {
			t.Error("a stale session's record was kept")
		}
	}
	checkOnePerCondition(t, e, 6) // the shared ones stay for the live viewer
	ds, err := e.sim.UpdateUser(ctx, "pixelpaladin", "only the live one")
	checkDelivered(t, "UpdateUser", ds, err)
	if got := e.sink.Events(viewer.ID); len(got) != 1 {
		t.Fatalf("live viewer got %+v, want one event", got)
	}
	if n := len(e.sink.Events(creator.ID)); n != 0 {
		t.Errorf("the stale creator got %d events", n)
	}
}

// countingHelix counts subscription creates by type.
type countingHelix struct {
	Helix
	mu      sync.Mutex
	creates map[string]int
}

func (h *countingHelix) CreateSubscription(ctx context.Context, req eventsub.CreateRequest) (eventsub.Subscription, error) {
	h.mu.Lock()
	h.creates[req.Type]++
	h.mu.Unlock()
	return h.Helix.CreateSubscription(ctx, req)
}

func (h *countingHelix) count(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.creates[typ]
}

// Other deployments of the app hold the 3 identical stream.online subscriptions Twitch
// allows: the feed fails with its own reason (not "rate limit"), the other feeds are fine,
// and a second SubscribeToAllEvents does not ask Twitch again.
func TestFourthIdenticalSubscription(t *testing.T) {
	e := newEnv(t, nil)
	counter := &countingHelix{Helix: e.helix, creates: map[string]int{}}
	e.m = e.newManager(func(c *Config) { c.Helix = counter })
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Challenge string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(b.Challenge))
	}))
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for i := range 3 {
		sub, err := e.helix.CreateSubscription(ctx, eventsub.CreateRequest{Type: eventsub.TypeStreamOnline, Version: "1",
			Condition: eventsub.Condition{"broadcaster_user_id": "100001"},
			Transport: eventsub.Transport{Method: "webhook", Callback: fmt.Sprintf("%s/deployment-%d/callback/x", other.URL, i), Secret: "0123456789abcdef"}})
		if err != nil {
			t.Fatalf("create identical subscription %d: %v", i, err)
		}
		if _, err := e.sim.WaitVerified(ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
	}
	s := e.session("modmaria", "pixelpaladin")
	got := e.ensure(s)
	f := statusOf(got, FeedStreamChanged)
	if f.Status != StatusFailed || f.Reason != reasonTooMany {
		t.Fatalf("stream_changed = %s (%q), want failed (%q)", f.Status, f.Reason, reasonTooMany)
	}
	for _, feed := range []string{FeedFollowedBy, FeedUserChanged} {
		if f := statusOf(got, feed); f.Status != StatusActive {
			t.Errorf("%s = %s (%s), want active", feed, f.Status, f.Reason)
		}
	}
	if e.waits.Load() != 0 {
		t.Error("the helix client waited for a rate limit on the identical-subscription 429")
	}
	before := counter.count(eventsub.TypeStreamOnline)
	got = e.ensure(s)
	if n := counter.count(eventsub.TypeStreamOnline); n != before {
		t.Errorf("a second SubscribeToAllEvents asked Twitch again (%d creates, had %d)", n, before)
	}
	if f := statusOf(got, FeedStreamChanged); f.Status != StatusFailed || f.Reason != reasonTooMany {
		t.Errorf("after a second SubscribeToAllEvents stream_changed = %s (%q)", f.Status, f.Reason)
	}
	// Another viewer of the channel is told the same without a call either.
	v := e.session("modmaria", "pixelpaladin")
	if f := statusOf(e.ensure(v), FeedStreamChanged); f.Reason != reasonTooMany {
		t.Errorf("another viewer: stream_changed %s (%q)", f.Status, f.Reason)
	}
	if n := counter.count(eventsub.TypeStreamOnline); n != before {
		t.Errorf("another viewer's SubscribeToAllEvents asked Twitch again")
	}
}
