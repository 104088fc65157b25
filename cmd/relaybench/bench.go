package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"
)

// point is one load against the bare handler and the relay, back to back in the same run.
type point struct {
	Mode string `json:"mode"` // memory | redis | broker
	// Instances is broker mode's relay processes; LoadAvg the machine's when the point began.
	Instances int                `json:"instances,omitempty"`
	LoadAvg   string             `json:"loadavg,omitempty"`
	Sessions  int                `json:"sessions"`
	Loop      string             `json:"loop"`
	Rate      float64            `json:"rate,omitempty"`
	Conns     int                `json:"conns"`
	Bare      figures            `json:"bare"`
	Relay     figures            `json:"relay"`
	Ratio     map[string]float64 `json:"ratio_to_bare"`
	// RatioToOne is broker mode's figures to the 1-instance point of the same load.
	RatioToOne map[string]float64 `json:"ratio_to_one_instance,omitempty"`
}

// bareServer is the ceiling: a net/http handler that reads the body and answers 204.
type bareServer struct {
	srv *http.Server
	url string
}

func startBare() (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	return &bareServer{srv: srv, url: "http://" + ln.Addr().String()}, nil
}

func (b *bareServer) close() { b.srv.Close() }

// bench runs points against one relay stack and its fleet of sockets.
type bench struct {
	client *http.Client
	bare   *bareServer
	mode   string
	fleet  *fleet
	dur    time.Duration
	conns  int // closed loop connections
	logf   func(format string, args ...any)
	cpu    string        // CPU profile of the next relay phase, then ""
	rounds int           // bare and relay alternate this many times per point
	pids   []int         // relay processes whose memory is the relay's (broker mode); none: this one
	drain  time.Duration // how long deliveries may still arrive after the send window (-drain)
}

// startProfile starts the CPU profile b.cpu asked for, once.
func (b *bench) startProfile() bool {
	if b.cpu == "" {
		return false
	}
	fh, err := os.Create(b.cpu)
	b.cpu = ""
	if err != nil {
		return false
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		fh.Close()
		return false
	}
	return true // the file stays open until the process ends; pprof closes nothing
}

// capacity is how many messages a run may send: rate × duration, or a generous bound for
// closed loop (the loop stops there).
func capacity(rate float64, dur time.Duration) int {
	if rate > 0 {
		return max(1, int(rate*dur.Seconds()))
	}
	return min(max(1, int(dur.Seconds()*80000)), 4_000_000)
}

// measure runs the same load against the bare handler, then the relay; rate 0 = closed loop.
func (b *bench) measure(rate float64) point {
	ts := b.fleet.targets
	// rate is events delivered per second over all sockets (each browser sees rate/N per
	// second); one notification reaches every socket watching its streamer, so Twitch
	// sends rate/fanout callbacks per second.
	fanout := float64(len(b.fleet.socks)) / float64(len(ts))
	callbacks := rate / fanout
	p := point{Mode: b.mode, Sessions: len(b.fleet.socks), Loop: "closed", Rate: rate, Conns: b.conns, LoadAvg: loadAvg()}
	if b.mode == "broker" {
		p.Instances = b.fleet.st.instances()
	}
	workers := b.conns
	if rate > 0 {
		p.Loop, workers = "open", 256
		p.Conns = workers
	}
	bareURLs, relayURLs := make([]string, len(ts)), []string(nil)
	for i, t := range ts {
		bareURLs[i] = b.bare.url + "/callback/" + t.sid
	}
	for inst := range b.fleet.st.instances() {
		for _, t := range ts {
			relayURLs = append(relayURLs, b.fleet.st.callbackAt(t.url, inst))
		}
	}
	// The two servers take turns in short slices, so that load from elsewhere on a
	// shared machine falls on both alike.
	type side struct {
		urls    []string
		f       *fleet
		r       *recorder
		n       int
		elapsed time.Duration
	}
	bareSide := &side{urls: bareURLs, r: newRecorder(capacity(callbacks, b.dur), b.fleet.fanout)}
	relaySide := &side{urls: relayURLs, f: b.fleet, r: newRecorder(capacity(callbacks, b.dur), b.fleet.fanout)}
	rounds := max(1, b.rounds)
	slice := b.dur / time.Duration(rounds)
	ctx, cancel := context.WithCancel(context.Background())
	peak := samplePeakRSS(ctx, b.pids)
	var relayPeak float64
	for i := range rounds {
		for _, sd := range []*side{bareSide, relaySide} {
			profiling := false
			if sd.f != nil {
				sd.f.rec.Store(sd.r)
				profiling = i == 0 && b.startProfile()
			}
			n, el := plan{targets: ts, urls: sd.urls, rate: callbacks, conns: workers, dur: slice}.run(b.client, sd.r, sd.n)
			if profiling {
				pprof.StopCPUProfile()
			}
			sd.n, sd.elapsed = sd.n+n, sd.elapsed+el
			b.client.CloseIdleConnections()
		}
	}
	cancel()
	relayPeak = <-peak
	summary := func(sd *side, name string) figures {
		fig := summarize(sd.r, sd.n, sd.elapsed, sd.f, relayPeak, b.drain)
		if sd.f != nil {
			sd.f.rec.Store(nil)
		}
		fig.Server, fig.Loop, fig.Sessions, fig.Rate, fig.Conns, fig.Fanout = name, p.Loop, p.Sessions, rate, p.Conns, fanout
		return fig
	}
	p.Bare = summary(bareSide, "bare")
	p.Relay = summary(relaySide, "relay-"+b.mode)
	if b.pids != nil { // the relay's memory is in its processes, not this one
		p.Relay.HeapMiB, p.Relay.Goroutines = 0, 0
	}
	p.Ratio = ratios(p.Relay, p.Bare)
	b.logf("%s", p.line())
	return p
}

func ratios(r, b figures) map[string]float64 {
	return map[string]float64{
		"accepted_per_s": div(r.PerSecond, b.PerSecond),
		// what the user gets: frames delivered at the sockets per second, to bare answers
		"delivered_per_s": div(r.DeliveredPerSecond, b.PerSecond),
		"p50":             div(r.Latency.P50, b.Latency.P50),
		"p90":             div(r.Latency.P90, b.Latency.P90),
		"p99":             div(r.Latency.P99, b.Latency.P99),
		"max":             div(r.Latency.Max, b.Latency.Max),
		"answer_p99":      div(r.Answer.P99, b.Answer.P99),
		"peak_rss":        div(r.PeakRSSMiB, b.PeakRSSMiB),
		"heap":            div(r.HeapMiB, b.HeapMiB),
		"goroutines":      div(float64(r.Goroutines), float64(b.Goroutines)),
	}
}

func (p point) line() string {
	what := fmt.Sprintf("%d ev/s", int(p.Rate))
	if p.Loop == "closed" {
		what = fmt.Sprintf("closed C=%d", p.Conns)
	}
	mode := p.Mode
	if p.Instances > 0 {
		mode = fmt.Sprintf("%s×%d", p.Mode, p.Instances)
	}
	return fmt.Sprintf("%-6s %5d sessions %-12s bare %7.0f/s | relay answered %7.0f/s (%.2f×), delivered %.0f frames/s (%.2f×), p50 %.2f p99 %.2f max %.1f ms, errors %d lost %d dup %d resumes %d crossed %d socket errors %d",
		mode, p.Sessions, what, p.Bare.PerSecond, p.Relay.PerSecond, p.Ratio["accepted_per_s"], p.Relay.DeliveredPerSecond, p.Ratio["delivered_per_s"],
		p.Relay.Latency.P50, p.Relay.Latency.P99, p.Relay.Latency.Max, p.Relay.Errors, p.Relay.Lost, p.Relay.Duplicated, p.Relay.Resumes, p.Relay.Crossed, p.Relay.SocketErrs)
}

// ok reports whether the relay's figures show no error, loss or duplicate.
func (p point) ok() bool {
	r := p.Relay
	return r.Errors == 0 && r.Lost == 0 && r.Duplicated == 0 && r.Misrouted == 0 && r.SocketErrs == 0 && p.Bare.Errors == 0
}
