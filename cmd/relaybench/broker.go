package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/twitchrelay/twitchrelay/internal/procs"
)

// loadBroker is -mode broker: for each of -instances, a fresh simulator process and that
// many relay processes on one Redis (procStack), the fleet logged in with its sockets spread
// round-robin over the instances, and o's points with each callback sent to the instances
// in turn. Every figure is also given as a ratio to the 1-instance point of the same load.
func loadBroker(ctx context.Context, o options, mode string, bare *bareServer, logf func(string, ...any)) (pts []point, err error) {
	bin, cleanup, err := o.binaries(logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	logTo, closeLog, err := o.logTo()
	if err != nil {
		return nil, err
	}
	defer closeLog()
	for _, n := range o.instanceCounts {
		if ctx.Err() != nil {
			return pts, ctx.Err()
		}
		got, err := loadInstances(ctx, o, mode, bin, n, bare, logf, logTo)
		pts = append(pts, got...)
		if err != nil {
			return pts, fmt.Errorf("%d instances: %w", n, err)
		}
	}
	ratiosToOne(pts)
	return pts, nil
}

func loadInstances(ctx context.Context, o options, mode string, bin procs.Binaries, n int, bare *bareServer, logf func(string, ...any), logTo io.Writer) (pts []point, err error) {
	st, err := startProcStack(bin, n, o.redisURL, o.logLevel, logTo)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := st.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	logf("broker: simulator and %d relay processes on %s under %s", n, o.redisURL, st.redisPrefix)
	return loadOn(ctx, o, mode, st, st.pids(), bare, logf)
}

// binaries are -relay-bin and -sim-bin, or both built into a temporary directory (removed
// by cleanup) from the module the working directory is in.
func (o options) binaries(logf func(string, ...any)) (procs.Binaries, func(), error) {
	if o.relayBin != "" && o.simBin != "" {
		return procs.Binaries{Relay: o.relayBin, Sim: o.simBin}, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "relaybench-bin-")
	if err != nil {
		return procs.Binaries{}, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	logf("broker: building cmd/twitchrelay and cmd/twitchsim")
	bin, err := procs.Build(dir)
	if err != nil {
		cleanup()
		return procs.Binaries{}, nil, fmt.Errorf("%w (run from the repository, or pass -relay-bin and -sim-bin)", err)
	}
	if o.relayBin != "" {
		bin.Relay = o.relayBin
	}
	if o.simBin != "" {
		bin.Sim = o.simBin
	}
	return bin, cleanup, nil
}

// ratiosToOne sets each broker point's RatioToOne: its figures over those of the
// 1-instance point with the same load (sessions, loop, rate, connections), if there is one.
func ratiosToOne(pts []point) {
	same := func(a, b point) bool {
		return a.Sessions == b.Sessions && a.Loop == b.Loop && a.Rate == b.Rate && a.Conns == b.Conns
	}
	for i := range pts {
		j := slices.IndexFunc(pts, func(q point) bool { return q.Instances == 1 && same(q, pts[i]) })
		if j < 0 {
			continue
		}
		one, p := pts[j].Relay, pts[i].Relay
		pts[i].RatioToOne = map[string]float64{
			"delivered_per_s": div(p.DeliveredPerSecond, one.DeliveredPerSecond),
			"accepted_per_s":  div(p.PerSecond, one.PerSecond),
			"p50":             div(p.Latency.P50, one.Latency.P50),
			"p99":             div(p.Latency.P99, one.Latency.P99),
			"answer_p99":      div(p.Answer.P99, one.Answer.P99),
			"peak_rss":        div(p.PeakRSSMiB, one.PeakRSSMiB),
		}
	}
}

func div(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x / y
}
