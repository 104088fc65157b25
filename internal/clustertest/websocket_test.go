package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/cluster"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// takeoverBound is how long after kill -9 of the owner of a user's Twitch WebSocket session
// another instance has it again, subscribed: the claim's TTL (6 s) and a claim round (2 s),
// plus the websocket connect and the creates (a few hundred ms on a loaded machine; 4 s
// allowed).
const takeoverBound = 12 * time.Second

// TestOneTwitchSessionPerUser: with EVENTSUB_TRANSPORT=websocket and three instances, one
// person in two browsers (two relay sessions) whose sockets sit on two different instances.
// The simulator sees exactly one Twitch WebSocket session for that user, and events reach
// both pages exactly once, in order. Then the instance that runs that Twitch session is
// killed with SIGKILL: another takes the user over within takeoverBound, the simulator shows
// one session again, both pages get an events_missing frame covering an event triggered
// while nobody was subscribed, and events after the takeover arrive exactly once, in order.
func TestOneTwitchSessionPerUser(t *testing.T) {
	t.Parallel()
	rc := redistest.Client(t)
	c := cluster.Start(t, bin, cluster.Options{Instances: 3, RedisURL: redistest.URL(t), Prefix: redistest.Prefix(t, rc),
		Env: []string{"EVENTSUB_TRANSPORT=websocket"}})
	var all []string
	for _, r := range c.Relays {
		all = append(all, r.Addr)
	}
	var sockets []*client.Socket
	for i := range 2 {
		c.LB.SetBackends(all[i]) // browser i's login, page and socket on instance i
		_, s := watch(t, c, "modmaria")
		sockets = append(sockets, s)
	}
	c.LB.SetBackends(all...)
	for i, r := range c.Relays[:2] {
		if n := c.Sockets(r); n != 1 {
			t.Fatalf("%s holds %d sockets, want browser %d's", r.Name, n, i+1)
		}
	}
	owner := twitchSessionOwner(t, c)
	t.Logf("%s runs the user's Twitch WebSocket session", owner.Name)

	next := []int{1, 1}
	sendTitles(t, c, 1, 5)
	for i, s := range sockets {
		expect(t, c, s, &next[i], 5)
	}
	checkOneTwitchSession(t, c)
	if got := twitchSessionOwner(t, c); got != owner {
		t.Fatalf("the Twitch session moved from %s to %s at steady state", owner.Name, got.Name)
	}

	killed := time.Now()
	c.Kill(owner)
	t.Logf("killed %s", owner.Name)
	// An event while nobody is subscribed (the claim outlives its dead owner by seconds):
	// Twitch does not replay it, so each page must be told.
	lostAt := time.Now()
	if n, err := c.TriggerCount(url.Values{"type": {"update"}, "login": {streamer}, "title": {"lost"}, "category": {"Art"}}); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		t.Fatalf("the event after the kill went to %d subscriptions, want none yet", n)
	}
	waitUntil(t, c, "one subscribed Twitch session again", func() bool {
		st, err := c.State()
		return err == nil && len(st.WSSessions) == 1 && st.WSSessions[0].Subscribed && len(enabledWS(st)) > 0 && !sessionOnDead(st, lostAt)
	})
	took := time.Since(killed)
	t.Logf("taken over after %s", took.Round(time.Millisecond))
	if took > takeoverBound {
		t.Errorf("takeover took %s, want at most %s", took, takeoverBound)
	}
	for i, s := range sockets {
		from, until := waitEventsMissing(t, c, s)
		t.Logf("browser %d: events_missing from %s until %s (kill at %s)", i+1, from.Format("15:04:05.000"), until.Format("15:04:05.000"), killed.Format("15:04:05.000"))
		if from.After(lostAt) || until.Before(lostAt) {
			t.Errorf("browser %d: events_missing %s..%s does not cover the lost event at %s", i+1, from, until, lostAt)
		}
	}
	checkOneTwitchSession(t, c)

	sendTitles(t, c, 6, 10)
	for i, s := range sockets {
		expect(t, c, s, &next[i], 10) // "lost" in between would fail here: it was never delivered
	}
	checkOneTwitchSession(t, c)
}

// sendTitles triggers title changes t-from..t-to, each delivered before the next.
func sendTitles(t *testing.T, c *cluster.Cluster, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		n, err := c.TriggerCount(url.Values{"type": {"update"}, "login": {streamer}, "title": {fmt.Sprintf("t-%d", i)}, "category": {"Art"}})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("t-%d went to %d subscriptions, want the user's one", i, n)
		}
	}
}

// twitchSessionOwner is the one running relay that keeps a Twitch WebSocket session.
func twitchSessionOwner(t *testing.T, c *cluster.Cluster) *cluster.Relay {
	t.Helper()
	var owner *cluster.Relay
	waitUntil(t, c, "exactly one relay keeping a Twitch session", func() bool {
		owner = nil
		n := 0
		for _, r := range c.Running() {
			if c.TwitchSessions(r) == 1 {
				owner, n = r, n+1
			} else if c.TwitchSessions(r) != 0 {
				n += 2
			}
		}
		return n == 1
	})
	return owner
}

// checkOneTwitchSession: the simulator has one connected EventSub WebSocket session, and one
// relay keeps one; no websocket subscription exists twice.
func checkOneTwitchSession(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.WSSessions) != 1 {
		t.Fatalf("%d Twitch WebSocket sessions in the simulator, want 1: %+v\n%s", len(st.WSSessions), st.WSSessions, c.Logs())
	}
	seen := map[string]bool{}
	for _, sub := range enabledWS(st) {
		key := sub.Type + fmt.Sprint(sub.Condition)
		if seen[key] {
			t.Errorf("websocket subscription %s %v exists twice", sub.Type, sub.Condition)
		}
		seen[key] = true
		if sub.Transport.SessionID != st.WSSessions[0].ID {
			t.Errorf("websocket subscription %s on session %s, not the connected %s", sub.ID, sub.Transport.SessionID, st.WSSessions[0].ID)
		}
	}
	twitchSessionOwner(t, c)
}

// enabledWS is the simulator's enabled WebSocket subscriptions.
func enabledWS(st twitchsim.State) []eventsub.Subscription {
	var out []eventsub.Subscription
	for _, sub := range st.WSSubscriptions {
		if sub.Status == eventsub.StatusEnabled {
			out = append(out, sub)
		}
	}
	return out
}

// sessionOnDead reports whether an enabled WebSocket subscription was created before at
// (on the killed owner's session, which the simulator has not dropped yet).
func sessionOnDead(st twitchsim.State, at time.Time) bool {
	for _, sub := range enabledWS(st) {
		if sub.CreatedAt.Before(at) {
			return true
		}
	}
	return false
}

// waitEventsMissing reads s until an events_missing frame and returns its span.
func waitEventsMissing(t *testing.T, c *cluster.Cluster, s *client.Socket) (from, until time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	for {
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for events_missing: %v\n%s", err, c.Logs())
		}
		if f.Type == "event_updated" {
			t.Fatalf("event %q before events_missing: it was delivered after all?\n%s", f.Event.Title, c.Logs())
		}
		if f.Type != "events_missing" {
			continue
		}
		var m struct {
			Event struct {
				From, Until time.Time
				Reason      string
			} `json:"event"`
		}
		if err := json.Unmarshal(f.Raw, &m); err != nil {
			t.Fatal(err)
		}
		return m.Event.From, m.Event.Until
	}
}
