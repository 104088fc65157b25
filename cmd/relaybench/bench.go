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
	Mode     string             `json:"mode"` // memory | redis
	Sessions int                `json:"sessions"`
	Loop     string             `json:"loop"`
	Rate     float64            `json:"rate,omitempty"`
	Conns    int                `json:"conns"`
	Bare     figures            `json:"bare"`
	Relay    figures            `json:"relay"`
	Ratio    map[string]float64 `json:"ratio_to_bare"`
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
	cpu    string // CPU profile of the next relay phase, then ""
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
	p := point{Mode: b.mode, Sessions: len(ts), Loop: "closed", Rate: rate, Conns: b.conns}
	workers := b.conns
	if rate > 0 {
		p.Loop, workers = "open", 256
		p.Conns = workers
	}
	bareURLs, relayURLs := make([]string, len(ts)), make([]string, len(ts))
	for i, t := range ts {
		bareURLs[i], relayURLs[i] = b.bare.url+"/callback/"+t.sid, t.url
	}
	runOne := func(urls []string, f *fleet) figures {
		r := newRecorder(capacity(rate, b.dur))
		if f != nil {
			f.rec.Store(r)
			defer f.rec.Store(nil)
		}
		ctx, cancel := context.WithCancel(context.Background())
		peak := samplePeakRSS(ctx)
		n, elapsed := plan{targets: ts, urls: urls, rate: rate, conns: workers, dur: b.dur}.run(b.client, r)
		fig := summarize(r, n, elapsed, f, 0)
		cancel()
		fig.PeakRSSMiB = <-peak
		fig.Loop, fig.Sessions, fig.Rate, fig.Conns = p.Loop, p.Sessions, rate, p.Conns
		return fig
	}
	p.Bare = runOne(bareURLs, nil)
	p.Bare.Server = "bare"
	b.client.CloseIdleConnections()
	if b.cpu != "" {
		if fh, err := os.Create(b.cpu); err == nil {
			defer fh.Close()
			if pprof.StartCPUProfile(fh) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		b.cpu = ""
	}
	p.Relay = runOne(relayURLs, b.fleet)
	p.Relay.Server = "relay-" + b.mode
	b.client.CloseIdleConnections()
	p.Ratio = ratios(p.Relay, p.Bare)
	b.logf("%s", p.line())
	return p
}

func ratios(r, b figures) map[string]float64 {
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	return map[string]float64{
		"accepted_per_s": div(r.PerSecond, b.PerSecond),
		"p50":            div(r.Latency.P50, b.Latency.P50),
		"p90":            div(r.Latency.P90, b.Latency.P90),
		"p99":            div(r.Latency.P99, b.Latency.P99),
		"max":            div(r.Latency.Max, b.Latency.Max),
		"answer_p99":     div(r.Answer.P99, b.Answer.P99),
		"peak_rss":       div(r.PeakRSSMiB, b.PeakRSSMiB),
		"heap":           div(r.HeapMiB, b.HeapMiB),
		"goroutines":     div(float64(r.Goroutines), float64(b.Goroutines)),
	}
}

func (p point) line() string {
	what := fmt.Sprintf("%d/s", int(p.Rate))
	if p.Loop == "closed" {
		what = fmt.Sprintf("closed C=%d", p.Conns)
	}
	return fmt.Sprintf("%-6s %5d sessions %-12s bare %7.0f/s | relay %7.0f/s (%.2f×) p50 %.2f p99 %.2f max %.1f ms, errors %d lost %d dup %d",
		p.Mode, p.Sessions, what, p.Bare.PerSecond, p.Relay.PerSecond, p.Ratio["accepted_per_s"],
		p.Relay.Latency.P50, p.Relay.Latency.P99, p.Relay.Latency.Max, p.Relay.Errors, p.Relay.Lost, p.Relay.Duplicated)
}

// ok reports whether the relay's figures show no error, loss or duplicate.
func (p point) ok() bool {
	r := p.Relay
	return r.Errors == 0 && r.Lost == 0 && r.Duplicated == 0 && r.Misrouted == 0 && r.SocketErrs == 0 && p.Bare.Errors == 0
}
