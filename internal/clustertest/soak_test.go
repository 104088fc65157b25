package clustertest

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/cluster"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// soakDuration decides whether and how long TestClusterSoak runs: opt-in (CLUSTER_SOAK=1, or
// -run naming it), 5 minutes unless CLUSTER_SOAK_SECONDS says otherwise. CI runs the same
// steps once each in TestThreeInstances.
func soakDuration(t *testing.T) time.Duration {
	run := flag.Lookup("test.run").Value.String()
	if os.Getenv("CLUSTER_SOAK") == "" && !strings.Contains(run, "ClusterSoak") {
		t.Skip("long cluster soak: opt in with CLUSTER_SOAK=1 (CLUSTER_SOAK_SECONDS); CI runs its steps once each in TestThreeInstances")
	}
	d := 5 * time.Minute
	if n, err := strconv.Atoi(os.Getenv("CLUSTER_SOAK_SECONDS")); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	}
	return d
}

// TestClusterSoak: three people watch one streamer through the balancer, their sockets
// spread over three instances, under a steady stream of events. Until the soak's time is up,
// round after round: the instance with the most sockets is killed with SIGKILL and replaced;
// every broker Pub/Sub connection is killed in Redis; the oldest instance is stopped
// (SIGTERM) and replaced. After every round each page has every event delivered so far, once,
// in order. At the end no subscription exists twice or was created twice, and after the
// logouts none is left.
func TestClusterSoak(t *testing.T) {
	d := soakDuration(t)
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	c := cluster.Start(t, bin, cluster.Options{Instances: 3, RedisURL: redistest.URL(t), Prefix: prefix,
		Env: []string{"HISTORY_BYTES=16777216"}}) // the pages read between the rounds (see TestThreeInstances)
	var browsers []*client.Browser
	var pages []*client.Socket
	for _, login := range []string{"modmaria", "chatterbox42", "lurker_lou"} {
		b, s := watch(t, c, login)
		browsers, pages = append(browsers, b), append(pages, s)
	}
	subsAtStart := checkSubscriptions(t, c)
	next := make([]int, len(pages))
	for i := range next {
		next[i] = 1
	}
	catchUp := func(upTo int) {
		t.Helper()
		for i, s := range pages {
			expect(t, c, s, &next[i], upTo)
		}
	}

	p := startProducer(c)
	deadline := time.Now().Add(d)
	rounds := 0
	for ; time.Now().Before(deadline); rounds++ {
		running := c.Running()
		busiest := running[0]
		for _, r := range running {
			if c.Sockets(r) > c.Sockets(busiest) {
				busiest = r
			}
		}
		c.Kill(busiest)
		c.StartRelay()
		catchUp(p.delivered() + 3)

		killPubSubs(t, rc, prefix)
		catchUp(p.delivered() + 3)

		c.Stop(c.Running()[0])
		c.StartRelay()
		catchUp(p.delivered() + 3)
		t.Logf("round %d: %d events so far, resumes %d/%d/%d", rounds+1, next[0]-1,
			pages[0].Resumes(), pages[1].Resumes(), pages[2].Resumes())
	}
	last := p.finish(t)
	catchUp(last)
	t.Logf("%d rounds, %d events to each of %d pages, %d subscriptions", rounds, last, len(pages), subsAtStart)
	if n := checkSubscriptions(t, c); n != subsAtStart {
		t.Errorf("%d subscriptions after the soak, %d before", n, subsAtStart)
	}
	if n := strings.Count(c.Logs(), `"msg":"eventsub subscription created"`); n != subsAtStart {
		t.Errorf("%d subscriptions created in all, for %d needed: some were created twice", n, subsAtStart)
	}
	for _, b := range browsers {
		if status, err := b.Logout(); err != nil || status != 200 {
			t.Fatalf("logout: %d %v", status, err)
		}
	}
	waitUntil(t, c, "no subscription left after the logouts", func() bool { return checkSubscriptions(t, c) == 0 })
}
