package main

import (
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/procs"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// TestShortRun is the CI check of the harness: a few seconds of open-loop load over a few
// hundred real sessions, in memory and (when Redis is reachable) in Redis mode. It asserts
// correctness only: no error, no lost, duplicated or misrouted event. Never speed.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and logs 200 browsers in")
	}
	if _, err := raiseFileLimit(20_000); err != nil {
		t.Logf("RLIMIT_NOFILE: %v", err)
	}
	bare, err := startBare()
	if err != nil {
		t.Fatal(err)
	}
	defer bare.close()
	t.Run("memory", func(t *testing.T) { stackRun(t, bare, "", 200, 16) })
	t.Run("redis", func(t *testing.T) { stackRun(t, bare, apptest.RedisURL(t), 200, 16) })
	// The single-socket burst (relaybench -sessions 1 -rate 0 -conns 64): 64 concurrent
	// callbacks to one session whose page has one socket. It cannot lose an event by design,
	// whatever the speeds: the socket writes everything waiting as one batch, and a callback
	// whose socket is far behind (a quarter of what the history holds) answers only once the
	// socket has taken its frames, so the backlog stays far below the bound that would drop it.
	t.Run("memory single socket", func(t *testing.T) { stackRun(t, bare, "", 1, 64) })
	// Broker mode (relaybench -mode broker): the simulator and three relay processes on one
	// Redis, sockets and callbacks spread over them, so two thirds of the deliveries cross from
	// the instance that took the callback to the one holding the socket. Three, not two: browser
	// g is user g+1 (mod 10) with its socket on instance g mod 3, so each user's sessions have
	// sockets on several instances and the user's owner runs sessions whose sockets are
	// elsewhere (with two, a user's sessions all land on one instance).
	t.Run("broker 3 instances", func(t *testing.T) {
		bin, err := procs.Build(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st, err := startProcStack(bin, 3, apptest.RedisURL(t), "info", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := st.stop(); err != nil {
				t.Error(err)
			}
		}()
		for _, p := range shortRun(t, bare, st, "broker", 40, 16, st.pids()) {
			if p.Instances != 3 || p.Relay.Crossed == 0 {
				t.Errorf("%s loop: %d instances, %d of %d deliveries crossed instances; want 3 instances and some crossed",
					p.Loop, p.Instances, p.Relay.Crossed, p.Relay.Delivered)
			}
		}
	})
}

func stackRun(t *testing.T, bare *bareServer, redisURL string, sessions, conns int) {
	st, err := startStack(redisURL, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.stop(); err != nil {
			t.Error(err)
		}
	}()
	mode := "memory"
	if redisURL != "" {
		mode = "redis"
	}
	shortRun(t, bare, st, mode, sessions, conns, nil)
}

// shortRun logs sessions in on h and runs two short points, open and closed loop, asserting
// that every accepted event reached every socket watching its streamer exactly once.
func shortRun(t *testing.T, bare *bareServer, h host, mode string, sessions, conns int, pids []int) []point {
	client := loadClient(64)
	defer client.CloseIdleConnections()
	f := newFleet(h, client)
	defer f.close()
	if err := f.grow(sessions); err != nil {
		t.Fatal(err)
	}
	b := &bench{client: client, bare: bare, mode: mode, fleet: f, dur: 2 * time.Second, conns: conns,
		rounds: 1, logf: t.Logf, pids: pids, drain: 5 * time.Second}
	var pts []point
	for _, rate := range []float64{1000, 0} { // open loop (events/s), then closed loop
		p := b.measure(rate)
		r := p.Relay
		// Lost and duplicated are counted per message and socket: every accepted event must
		// reach every socket watching its streamer exactly once.
		if r.Accepted == 0 || r.Errors != 0 || r.Lost != 0 || r.Duplicated != 0 || r.Misrouted != 0 || r.SocketErrs != 0 {
			t.Errorf("%s %d sessions %s loop: accepted %d, delivered %d (fan-out %.0f), errors %d %v, lost %d, duplicated %d, misrouted %d, socket errors %d; want every accepted event delivered and the rest 0",
				mode, sessions, p.Loop, r.Accepted, r.Delivered, r.Fanout, r.Errors, r.Statuses, r.Lost, r.Duplicated, r.Misrouted, r.SocketErrs)
		}
		t.Logf("%s %d sessions %s loop: %d accepted, %d delivered, %d resumes, %d crossed instances", mode, sessions, p.Loop, r.Accepted, r.Delivered, r.Resumes, r.Crossed)
		if p.Bare.Errors != 0 {
			t.Errorf("bare handler: %d errors %v", p.Bare.Errors, p.Bare.Statuses)
		}
		pts = append(pts, p)
	}
	return pts
}

// BenchmarkCallbackToSocket is one signed notification at a time through the real relay
// (in memory) to its open socket: POST, 204, frame read by the browser's socket. Allocations
// are the whole process's: relay, load generator and socket reader.
func BenchmarkCallbackToSocket(b *testing.B) {
	st, err := startStack("", "info", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.stop()
	client := loadClient(1)
	f := newFleet(st, client)
	defer f.close()
	if err := f.grow(1); err != nil {
		b.Fatal(err)
	}
	t := f.targets[0]
	r := newRecorder(1<<22, f.fanout)
	r.notify = make(chan struct{}, 1)
	f.rec.Store(r)
	b.ReportAllocs()
	g := 0
	for b.Loop() {
		r.send(client, g, t, t.url, 0, time.Now().UnixNano())
		if !r.ok[g] {
			b.Fatalf("message %d not accepted", g)
		}
		<-r.notify
		g++
	}
	b.StopTimer()
	if g > 0 {
		b.ReportMetric(quantilesOf(r.lats[:g]).P50*1e6, "p50-ns")
	}
}
