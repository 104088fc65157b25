// Command relaybench is twitchrelay's load harness (docs/PERFORMANCE.md). It starts the real
// relay (internal/app) and the real Twitch simulator on loopback, logs N browsers in through
// the real login flow, opens their stream sockets, and POSTs signed EventSub notifications
// to their callbacks at a fixed arrival rate (open loop) or as fast as C connections go
// (closed loop), for a bounded time. Every point is also run against a bare net/http
// handler that reads the body and answers 204, and reported as a ratio to it. -mode broker
// runs the relay as N processes (cmd/twitchrelay, with cmd/twitchsim) on one Redis instead,
// sockets and callbacks spread over them (procstack.go, broker.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	mode       string
	sessions   int
	rate       float64
	conns      int
	dur        time.Duration
	curve      bool
	idle       bool
	idleSizes  string
	idleClient bool
	fleetChild bool
	remote     bool
	jsonOut    string
	svgOut     string
	cpuProfile string
	memProfile string
	redisURL   string
	logLevel   string
	relayLog   string
	drain      time.Duration
	rounds     int
	plotFrom   string
	// broker mode
	instances      string
	instanceCounts []int
	relayBin       string
	simBin         string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	redisDefault := os.Getenv("REDIS_URL")
	if redisDefault == "" {
		redisDefault = "redis://127.0.0.1:6379/0"
	}
	fs.StringVar(&o.mode, "mode", "memory", "relay state: memory | redis | both (in this process) | broker (relay processes on Redis)")
	fs.StringVar(&o.instances, "instances", "1,2,3", "-mode broker: relay process counts, one fresh cluster each")
	fs.StringVar(&o.relayBin, "relay-bin", "", "-mode broker: a built cmd/twitchrelay (default: built from the working directory's module)")
	fs.StringVar(&o.simBin, "sim-bin", "", "-mode broker: a built cmd/twitchsim (default: built likewise)")
	fs.IntVar(&o.sessions, "sessions", 1000, "logged-in sessions, each with an open socket")
	fs.Float64Var(&o.rate, "rate", 2000, "open loop: notifications/s (0 = closed loop with -conns)")
	fs.IntVar(&o.conns, "conns", 64, "closed loop: connections sending back to back")
	fs.DurationVar(&o.dur, "duration", 10*time.Second, "send window per point (bounded to 2m)")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long deliveries may still arrive after the send window before the rest count as lost (bounded to 2m)")
	fs.IntVar(&o.rounds, "rounds", 5, "bare and relay take turns this many times per point (drift on a shared machine)")
	fs.StringVar(&o.plotFrom, "plot-from", "", "only redraw -svg from a -json file of an earlier run")
	fs.BoolVar(&o.curve, "curve", false, "sessions 1k/2k/5k/10k × rates 500/1k/2k/4k, plus closed loop per size")
	fs.BoolVar(&o.idle, "idle", false, "memory per idle socket at -idle-sizes sockets")
	fs.StringVar(&o.idleSizes, "idle-sizes", "1000,10000", "socket counts for -idle")
	fs.BoolVar(&o.idleClient, "idle-client", false, "internal: hold sockets for -idle (reads stdin)")
	fs.BoolVar(&o.remote, "remote-sockets", false, "keep the browsers' sockets in a child process (automatic above 9000 sessions)")
	fs.BoolVar(&o.fleetChild, "fleet-client", false, "internal: hold the browsers' sockets beyond 9000 sessions (reads stdin)")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure as JSON to this file")
	fs.StringVar(&o.svgOut, "svg", "", "write the curve (or the points) as an SVG plot to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the relay phase of the first point (per mode: file.memory, file.redis)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile at the end of the load")
	fs.StringVar(&o.redisURL, "redis", redisDefault, "Redis server for -mode redis and broker (REDIS_URL)")
	fs.StringVar(&o.logLevel, "log-level", "info", "the relay's LOG_LEVEL")
	fs.StringVar(&o.relayLog, "relay-log", "", "append the relay's JSON logs to this file (default: discarded)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.mode != "memory" && o.mode != "redis" && o.mode != "both" && o.mode != "broker":
		return o, fmt.Errorf("-mode %q: want memory, redis, both or broker", o.mode)
	case o.sessions < 1 || o.sessions > 20000:
		return o, fmt.Errorf("-sessions %d: want 1..20000", o.sessions)
	case o.conns < 1 || o.conns > 1024:
		return o, fmt.Errorf("-conns %d: want 1..1024", o.conns)
	case o.drain <= 0 || o.drain > 2*time.Minute:
		return o, fmt.Errorf("-drain %v: want (0, 2m]", o.drain)
	case o.dur <= 0 || o.dur > 2*time.Minute:
		return o, fmt.Errorf("-duration %v: want (0, 2m]", o.dur)
	case o.rate < 0 || o.rate > 100000:
		return o, fmt.Errorf("-rate %v: want 0..100000", o.rate)
	}
	if o.mode == "broker" {
		ns, err := sizes(o.instances)
		switch {
		case err != nil:
			return o, fmt.Errorf("-instances: %w", err)
		case slices.Max(ns) > maxInstances:
			return o, fmt.Errorf("-instances %s: at most %d", o.instances, maxInstances)
		case o.sessions > inProcessMax || o.remote || o.curve || o.idle:
			return o, fmt.Errorf("-mode broker: up to %d sessions, without -remote-sockets, -curve or -idle", inProcessMax)
		}
		o.instanceCounts = ns
	}
	return o, nil
}

// maxInstances bounds -instances: every relay process shares this machine.
const maxInstances = 8

// logTo opens -relay-log, or returns nil (discard).
func (o options) logTo() (io.Writer, func(), error) {
	if o.relayLog == "" {
		return nil, func() {}, nil
	}
	fh, err := os.OpenFile(o.relayLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return fh, func() { fh.Close() }, nil
}

func (o options) modes() []string {
	if o.mode == "both" {
		return []string{"memory", "redis"}
	}
	return []string{o.mode}
}

func sizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("size %q: want 1..20000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if _, err := raiseFileLimit(200_000); err != nil {
		fmt.Fprintln(stderr, "warning: RLIMIT_NOFILE:", err)
	}
	if o.plotFrom != "" {
		var rep report
		b, err := os.ReadFile(o.plotFrom)
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			return err
		}
		return os.WriteFile(o.svgOut, plot(rep.Points), 0o644)
	}
	if o.idleClient {
		return idleClient(ctx, stdin, stdout)
	}
	if o.fleetChild {
		return fleetClient(ctx, stdin, stdout)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
	rep := report{Machine: machine(), Command: "relaybench " + strings.Join(args, " ")}
	if o.idle {
		ns, err := sizes(o.idleSizes)
		if err != nil {
			return err
		}
		for _, mode := range o.modes() {
			for _, n := range ns {
				fig, err := measureIdle(ctx, o, mode, n, logf)
				if err != nil {
					return fmt.Errorf("idle %s %d: %w", mode, n, err)
				}
				rep.Idle = append(rep.Idle, fig)
			}
		}
	} else {
		pts, err := runLoad(ctx, o, logf)
		rep.Points = pts
		if err != nil {
			return err
		}
	}
	rep.summarise()
	rep.table(stdout)
	if o.jsonOut != "" {
		if err := rep.writeJSON(o.jsonOut); err != nil {
			return err
		}
	}
	if o.svgOut != "" && len(rep.Points) > 0 {
		if err := os.WriteFile(o.svgOut, plot(rep.Points), 0o644); err != nil {
			return err
		}
	}
	if !rep.clean() {
		return fmt.Errorf("errors, lost or duplicated events: see the table")
	}
	return nil
}
