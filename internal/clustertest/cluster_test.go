package clustertest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/cluster"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

const (
	streamer = "pixelpaladin"
	waitFor  = 60 * time.Second // every wait on the cluster
)

// watch logs a person in through the balancer, picks the streamer and opens a socket that
// resumes as the page does, once its stream feed is active.
func watch(t *testing.T, c *cluster.Cluster, login string) (*client.Browser, *client.Socket) {
	t.Helper()
	b := c.Browser()
	if err := b.Login(login); err != nil {
		t.Fatal(err)
	}
	if status, _, err := b.ChooseStreamer(streamer); err != nil || status != 200 {
		t.Fatalf("choose streamer: %d %v", status, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.ResumeOnClose(client.MaxResumes)
	t.Cleanup(s.Close)
	if _, err := s.WaitFeeds(ctx, func(f map[string]client.Feed) bool { return f["stream_changed"].Status == "active" }); err != nil {
		t.Fatalf("stream feed never active: %v\n%s", err, c.Logs())
	}
	return b, s
}

// producer triggers title changes "t-1", "t-2", ... one after another (each delivered, with
// Twitch's retries, before the next) until stopped; n is how many were delivered.
type producer struct {
	c    *cluster.Cluster
	mu   sync.Mutex
	n    int
	err  error
	stop chan struct{}
	done chan struct{}
}

func startProducer(c *cluster.Cluster) *producer {
	p := &producer{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			err := c.Trigger(url.Values{"type": {"update"}, "login": {streamer}, "title": {fmt.Sprintf("t-%d", i)}, "category": {"Art"}})
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.n = i
			p.mu.Unlock()
		}
	}()
	return p
}

// delivered is how many events the producer has delivered so far.
func (p *producer) delivered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// finish stops the producer and returns how many events it delivered.
func (p *producer) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("producer: %v", p.err)
	}
	return p.n
}

// expect reads events from s until title t-want, failing on any other title first: every
// event once, in order (the socket itself fails on a missing seq, a duplicate or a gap).
func expect(t *testing.T, c *cluster.Cluster, s *client.Socket, next *int, upTo int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	for *next <= upTo {
		f, err := s.NextEvent(ctx)
		if err != nil {
			t.Fatalf("waiting for t-%d: %v\n%s", *next, err, c.Logs())
		}
		if f.Event == nil || f.Event.Type != "channel.update" {
			continue
		}
		if want := fmt.Sprintf("t-%d", *next); f.Event.Title != want {
			t.Fatalf("got %q, want %q: lost, duplicated or out of order\n%s", f.Event.Title, want, c.Logs())
		}
		*next++
	}
}

// socketHolder is the relay holding the one open socket.
func socketHolder(t *testing.T, c *cluster.Cluster) *cluster.Relay {
	t.Helper()
	var holder *cluster.Relay
	waitUntil(t, c, "the relay holding the socket", func() bool {
		for _, r := range c.Relays {
			if c.Sockets(r) == 1 {
				holder = r
				return true
			}
		}
		return false
	})
	return holder
}

// checkSubscriptions: no Twitch subscription exists twice (same type and condition).
func checkSubscriptions(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	subs, err := c.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range subs {
		key := s.Type + fmt.Sprint(s.Condition)
		if other, dup := seen[key]; dup {
			t.Errorf("subscription %s %v exists twice (%s and %s)", s.Type, s.Condition, other, s.ID)
		}
		seen[key] = s.ID
	}
	return len(subs)
}

// TestThreeInstances: a browser logs in through the balancer; callbacks land on every
// instance; the socket's instance is killed with SIGKILL; every Pub/Sub connection is killed
// in Redis; every instance is restarted in turn. Under a steady stream of events the page
// gets every one once, in order; no subscription is ever created twice, and after logout
// none is left behind.
func TestThreeInstances(t *testing.T) {
	t.Parallel()
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	// The test's page reads only between the steps: while an instance holding its socket
	// shuts down (up to 5 s, waiting for the page's answer to "going away"), the producer goes
	// on. A real page answers at once; this one needs a history longer than 1 MiB
	// (HISTORY_BYTES' default, some 400 of these events) to resume without a gap.
	c := cluster.Start(t, bin, cluster.Options{Instances: 3, RedisURL: redistest.URL(t), Prefix: prefix,
		Env: []string{"HISTORY_BYTES=16777216"}})
	b, s := watch(t, c, "modmaria")
	subsAtStart := checkSubscriptions(t, c)
	next := 1

	p := startProducer(c)
	expect(t, c, s, &next, 9)
	took := 0
	for _, r := range c.Relays {
		if strings.Contains(r.Log.String(), `"message_type":"notification"`) {
			took++
		}
	}
	if took < 2 {
		t.Fatalf("callbacks reached %d instance(s), want several behind the round-robin balancer", took)
	}

	// kill -9 of the socket's instance.
	victim := socketHolder(t, c)
	c.Kill(victim)
	t.Logf("killed %s (the socket's)", victim.Name)
	expect(t, c, s, &next, next+9)
	c.StartRelay() // its replacement

	// Every broker Pub/Sub connection of the cluster killed in Redis.
	killed := killPubSubs(t, rc, prefix)
	t.Logf("killed %d Pub/Sub connections", killed)
	expect(t, c, s, &next, next+9)

	// A rolling restart: each running instance stopped (SIGTERM) and replaced, in turn.
	for _, r := range append([]*cluster.Relay(nil), c.Relays...) {
		if r == victim {
			continue
		}
		if c.Sockets(r) == 1 {
			t.Logf("%s holds the socket", r.Name)
		}
		c.Stop(r)
		nr := c.StartRelay()
		t.Logf("restarted %s as %s", r.Name, nr.Name)
		expect(t, c, s, &next, next+4)
	}
	last := p.finish(t)
	expect(t, c, s, &next, last)
	t.Logf("%d events, %d resumes, %d subscriptions", last, s.Resumes(), subsAtStart)
	if n := checkSubscriptions(t, c); n != subsAtStart {
		t.Errorf("%d subscriptions after the restarts, %d before", n, subsAtStart)
	}
	if n := strings.Count(c.Logs(), `"msg":"eventsub subscription created"`); n != subsAtStart {
		t.Errorf("%d subscriptions created in all, for %d needed: some were created twice\n%s", n, subsAtStart, c.Logs())
	}

	if status, err := b.Logout(); err != nil || status != 200 {
		t.Fatalf("logout: %d %v", status, err)
	}
	waitUntil(t, c, "no subscription left after logout", func() bool { return checkSubscriptions(t, c) == 0 })
}

// killPubSubs kills, in Redis, every connection in Pub/Sub mode that this cluster's brokers
// opened (named after the test's own prefix), and only those.
func killPubSubs(t *testing.T, rc redis.UniversalClient, prefix string) int {
	t.Helper()
	ctx := t.Context()
	list, err := rc.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	name := "name=twitchrelay-broker@" + prefix + " "
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, name) || !strings.Contains(line, "sub=1") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := rc.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no Pub/Sub connection named %q to kill:\n%s", name, list)
	}
	return killed
}

// waitUntil polls cond every 20 ms until it holds, failing after waitFor.
func waitUntil(t *testing.T, c *cluster.Cluster, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", waitFor, what, c.Logs())
		}
		<-tick.C
	}
}

// TestLeaseTakenOverFromKilledOwner: the page is closed, so its session's lease runs on the
// instance that owned it; that instance is killed with SIGKILL. Another instance finds the
// session unclaimed, adopts it, and ends it when the lease ends: its subscriptions are
// deleted, none left behind.
func TestLeaseTakenOverFromKilledOwner(t *testing.T) {
	t.Parallel()
	rc := redistest.Client(t)
	c := cluster.Start(t, bin, cluster.Options{Instances: 2, RedisURL: redistest.URL(t), Prefix: redistest.Prefix(t, rc),
		Env: []string{"SUBSCRIPTION_LEASE=10s"}}) // longer than a claim (6 s): the record outlives its dead owner's claim
	_, s := watch(t, c, "modmaria")
	if n := checkSubscriptions(t, c); n == 0 {
		t.Fatal("no subscription to take over")
	}
	owner := socketHolder(t, c)
	s.Close()
	waitUntil(t, c, "the socket closed on its instance", func() bool { return c.Sockets(owner) == 0 })
	c.Kill(owner)
	t.Logf("killed %s, the session's owner, with its lease running", owner.Name)
	waitUntil(t, c, "the lease to end on another instance", func() bool { return checkSubscriptions(t, c) == 0 })
	var survivor *cluster.Relay
	for _, r := range c.Relays {
		if r != owner {
			survivor = r
		}
	}
	// Its log line follows the deletes.
	waitUntil(t, c, survivor.Name+" to say it adopted the session and ended its lease", func() bool {
		l := survivor.Log.String()
		return strings.Contains(l, `"msg":"adopting a session no instance holds"`) && strings.Contains(l, `"reason":"lease ended"`)
	})
}

// TestRedisRestartedMidStream: the Redis the cluster shares is restarted (its own
// redis-server on a free loopback port, with an append-only file so that logins and numbering
// survive, as a production Redis would) under a steady stream of events. While it is down
// Twitch's deliveries are refused (5xx) and retried; afterwards the page has every event
// once, in order.
func TestRedisRestartedMidStream(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	c := cluster.Start(t, bin, cluster.Options{Instances: 2, RedisURL: rs.url(), Prefix: "twitchrelay:"})
	_, s := watch(t, c, "modmaria")
	next := 1
	p := startProducer(c)
	expect(t, c, s, &next, 9)
	rs.restart(t)
	t.Log("redis restarted")
	expect(t, c, s, &next, next+19)
	last := p.finish(t)
	expect(t, c, s, &next, last)
	t.Logf("%d events, %d resumes", last, s.Resumes())
	if !strings.Contains(c.Logs(), `"msg":"broker: rebuilding the Pub/Sub subscription"`) {
		t.Fatalf("no broker noticed Redis going away\n%s", c.Logs())
	}
}

// TestSharedAcrossInstances: three people watch the same streamer through the balancer, their
// sockets (and so their sessions) spread over three instances. The streamer's subscriptions
// exist once in Twitch (the instances share them through the registry in Redis), an event
// reaches every page once whichever instance Twitch's callback lands on, and after the three
// logouts nothing is left.
func TestSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	c := cluster.Start(t, bin, cluster.Options{Instances: 3, RedisURL: redistest.URL(t), Prefix: prefix})
	var browsers []*client.Browser
	var sockets []*client.Socket
	var all []string
	for _, r := range c.Relays {
		all = append(all, r.Addr)
	}
	for i, login := range []string{"modmaria", "chatterbox42", "lurker_lou"} {
		c.LB.SetBackends(all[i]) // this person's requests, socket and session on instance i
		b, s := watch(t, c, login)
		browsers, sockets = append(browsers, b), append(sockets, s)
	}
	c.LB.SetBackends(all...) // Twitch's callbacks round-robin again
	const subsShared = 4     // stream.online/offline, channel.update, user.update of the streamer
	for _, r := range c.Relays {
		if n := c.Sockets(r); n != 1 {
			t.Fatalf("%s holds %d sockets, want 1", r.Name, n)
		}
	}
	checkSubscriptions(t, c)
	for i := 1; i <= 3; i++ {
		if err := c.Trigger(url.Values{"type": {"update"}, "login": {streamer}, "title": {fmt.Sprintf("t-%d", i)}, "category": {"Art"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sockets {
		next := 1
		expect(t, c, s, &next, 3)
	}
	checkSubscriptions(t, c)
	for _, b := range browsers {
		if status, err := b.Logout(); err != nil || status != 200 {
			t.Fatalf("logout: %d %v", status, err)
		}
	}
	waitUntil(t, c, "no subscription left after the logouts", func() bool { return checkSubscriptions(t, c) == 0 })
	if n := strings.Count(c.Logs(), `"msg":"eventsub subscription created"`); n > subsShared+3 {
		t.Errorf("%d subscriptions created, want the streamer's %d and at most one follow each", n, subsShared)
	}
	if keys, err := rc.Keys(t.Context(), prefix+"share:*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("registry keys left after the logouts: %v %v", keys, err)
	}
}
