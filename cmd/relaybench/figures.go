package main

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// quantiles are latencies in milliseconds.
type quantiles struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func quantilesOf(ns []int64) quantiles {
	if len(ns) == 0 {
		return quantiles{}
	}
	slices.Sort(ns)
	at := func(q float64) float64 {
		return float64(ns[min(len(ns)-1, int(q*float64(len(ns))))]) / 1e6
	}
	return quantiles{at(0.50), at(0.90), at(0.99), float64(ns[len(ns)-1]) / 1e6}
}

// figures are the measures of one load against one server.
type figures struct {
	Server             string           `json:"server"` // bare | relay-memory | relay-redis
	Loop               string           `json:"loop"`   // open | closed
	Sessions           int              `json:"sessions"`
	Rate               float64          `json:"rate_target,omitempty"`
	Conns              int              `json:"conns"`
	Seconds            float64          `json:"seconds"`
	Sent               int64            `json:"sent"`
	Accepted           int64            `json:"accepted"`
	PerSecond          float64          `json:"accepted_per_s"`    // callbacks answered 204, per second
	Resumes            int64            `json:"resumes,omitempty"` // sockets dropped as slow that resumed
	Fanout             float64          `json:"fanout"`            // sockets per notification (sessions watching its streamer)
	Delivered          int64            `json:"delivered"`
	DeliveredPerSecond float64          `json:"delivered_per_s"`
	Errors             int64            `json:"errors"`
	Statuses           map[string]int64 `json:"error_statuses,omitempty"`
	Lost               int64            `json:"lost"`
	Duplicated         int64            `json:"duplicated"`
	Misrouted          int64            `json:"misrouted"`
	SocketErrs         int64            `json:"socket_errors"`
	// Crossed is deliveries on a socket of another relay instance than the callback's.
	Crossed int64 `json:"crossed_instances,omitempty"`
	// Latency: relay = callback sent (scheduled, in open loop) → frame received;
	// bare = sent → 204 received (there is no frame).
	Latency    quantiles `json:"latency"`
	Answer     quantiles `json:"answer_latency"` // sent → HTTP answer
	PeakRSSMiB float64   `json:"peak_rss_mib"`
	HeapMiB    float64   `json:"heap_inuse_mib"`
	Goroutines int       `json:"goroutines"`
}

// summarize waits (bounded) for the deliveries of accepted messages, then counts.
func summarize(r *recorder, n int, elapsed time.Duration, f *fleet, peak float64, drain time.Duration) figures {
	accepted, want := int64(0), int64(0)
	for g := range n {
		if r.ok[g] {
			accepted++
			want += int64(r.fanout[r.target[g].Load()])
		}
	}
	if f != nil {
		deadline := time.Now().Add(drain)
		for r.got.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // a counter to watch, bounded by the deadline
		}
	}
	out := figures{Sent: int64(n), Accepted: accepted, Errors: r.errs.Load(), Misrouted: r.misroute.Load(),
		Seconds: elapsed.Seconds(), PerSecond: float64(accepted) / elapsed.Seconds(), PeakRSSMiB: peak}
	r.statuses.Range(func(k, v any) bool {
		if out.Statuses == nil {
			out.Statuses = map[string]int64{}
		}
		out.Statuses[strconv.Itoa(k.(int))] = v.(*atomic.Int64).Load()
		return true
	})
	ans := make([]int64, 0, n)
	for g := range n {
		if !r.ok[g] {
			continue
		}
		ans = append(ans, r.resp[g])
		if f == nil {
			continue
		}
		exp, c := int64(r.fanout[r.target[g].Load()]), int64(r.recv[g].Load())
		out.Lost += max(0, exp-c)
		out.Duplicated += max(0, c-exp)
	}
	out.Answer = quantilesOf(ans)
	out.Latency = out.Answer
	if f != nil {
		out.Delivered = r.got.Load()
		out.DeliveredPerSecond = float64(out.Delivered) / elapsed.Seconds()
		out.Latency = quantilesOf(r.lats[:min(r.nlat.Load(), int64(len(r.lats)))])
		out.SocketErrs = f.sockErrs.Load() + f.seqErrs.Load() + f.gaps.Load()
		out.Resumes = f.resumes.Load()
		out.Crossed = r.crossed.Load()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
	out.Goroutines = runtime.NumGoroutine()
	return out
}

// rssBytes is this process's resident set (VmRSS), or another's with pid > 0.
func rssBytes(pid int) int64 {
	name := "/proc/self/status"
	if pid > 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	fh, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// samplePeakRSS samples RSS every 200 ms until ctx ends: this process's, or the sum of
// pids' if any. The result is the peak in MiB.
func samplePeakRSS(ctx context.Context, pids []int) <-chan float64 {
	rss := func() int64 {
		if len(pids) == 0 {
			return rssBytes(0)
		}
		var sum int64
		for _, pid := range pids {
			sum += rssBytes(pid)
		}
		return sum
	}
	out := make(chan float64, 1)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		peak := rss()
		for {
			select {
			case <-ctx.Done():
				out <- float64(max(peak, rss())) / (1 << 20)
				return
			case <-t.C:
				peak = max(peak, rss())
			}
		}
	}()
	return out
}

// loadAvg is the machine's 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// raiseFileLimit lifts RLIMIT_NOFILE: both ends of every socket live in this process.
func raiseFileLimit(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	n := syscall.Rlimit{Cur: want, Max: max(want, l.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		n = syscall.Rlimit{Cur: l.Max, Max: l.Max} // not privileged: the hard limit is the most
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
			return l.Cur, err
		}
	}
	return n.Cur, nil
}
