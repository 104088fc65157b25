package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

// Curve axes (issue 9).
var (
	curveSessions = []int{1000, 2000, 5000, 10000}
	curveRates    = []float64{500, 1000, 2000, 4000}
)

// runLoad measures every point of o, mode by mode, each mode on a fresh relay.
func runLoad(ctx context.Context, o options, logf func(string, ...any)) ([]point, error) {
	bare, err := startBare()
	if err != nil {
		return nil, err
	}
	defer bare.close()
	var pts []point
	for _, mode := range o.modes() {
		load := loadMode
		if mode == "broker" {
			load = loadBroker
		}
		got, err := load(ctx, o, mode, bare, logf)
		pts = append(pts, got...)
		if err != nil {
			return pts, fmt.Errorf("%s: %w", mode, err)
		}
	}
	return pts, nil
}

func loadMode(ctx context.Context, o options, mode string, bare *bareServer, logf func(string, ...any)) (pts []point, err error) {
	redisURL := ""
	if mode == "redis" {
		redisURL = o.redisURL
	}
	logTo, closeLog, err := o.logTo()
	if err != nil {
		return nil, err
	}
	defer closeLog()
	st, err := startStack(redisURL, o.logLevel, logTo)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := st.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	return loadOn(ctx, o, mode, st, nil, bare, logf)
}

// loadOn logs the fleet in on h and measures o's points (the curve, or one point); pids are
// the relay processes (broker mode), none when the relay is in this process.
func loadOn(ctx context.Context, o options, mode string, h host, pids []int, bare *bareServer, logf func(string, ...any)) (pts []point, err error) {
	client := loadClient(max(o.conns, 256))
	defer client.CloseIdleConnections()
	f := newFleet(h, client)
	defer f.close()
	if most := o.sessions; o.curve || most > inProcessMax || o.remote {
		if o.curve {
			most = curveSessions[len(curveSessions)-1]
		}
		if most > inProcessMax || o.remote {
			if f.remote, err = startRemote(f); err != nil {
				return nil, err
			}
		}
	}
	b := &bench{client: client, bare: bare, mode: mode, fleet: f, dur: o.dur, conns: o.conns, logf: logf, rounds: o.rounds, pids: pids, drain: o.drain}
	if o.cpuProfile != "" {
		b.cpu = o.cpuProfile + "." + mode
	}

	type step struct {
		sessions int
		rates    []float64
	}
	steps := []step{{o.sessions, []float64{o.rate}}}
	if o.curve {
		steps = nil
		for _, n := range curveSessions {
			steps = append(steps, step{n, append(append([]float64(nil), curveRates...), 0)})
		}
	}
	for _, s := range steps {
		start := time.Now()
		if err := f.grow(s.sessions); err != nil {
			return pts, err
		}
		logf("%s: %d sessions logged in with open sockets on %d instance(s) (%.1fs)", mode, s.sessions, h.instances(), time.Since(start).Seconds())
		warm := *b
		warm.dur, warm.cpu = time.Second, ""
		warm.logf = func(string, ...any) {}
		warm.measure(1000)
		for _, rate := range s.rates {
			if ctx.Err() != nil {
				return pts, ctx.Err()
			}
			pts = append(pts, b.measure(rate))
		}
	}
	if o.memProfile != "" {
		fh, err := os.Create(o.memProfile + "." + mode)
		if err != nil {
			return pts, err
		}
		defer fh.Close()
		if err := pprof.Lookup("heap").WriteTo(fh, 0); err != nil {
			return pts, err
		}
	}
	return pts, nil
}
