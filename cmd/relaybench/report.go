package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// report is everything a run measured.
type report struct {
	Command string            `json:"command"`
	Machine map[string]string `json:"machine"`
	Points  []point           `json:"points,omitempty"`
	Idle    []idleFigures     `json:"idle,omitempty"`
	Targets []targetCheck     `json:"targets,omitempty"`
}

// targetCheck is one of issue 9's targets, with what this run showed.
type targetCheck struct {
	Target string  `json:"target"`
	Got    float64 `json:"got"`
	Want   string  `json:"want"`
	Met    bool    `json:"met"`
}

func machine() map[string]string {
	m := map[string]string{"go": runtime.Version(), "nproc": fmt.Sprint(runtime.NumCPU()),
		"gomaxprocs": fmt.Sprint(runtime.GOMAXPROCS(0))}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg_at_start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// summarise checks the targets the run has figures for.
func (r *report) summarise() {
	add := func(name, want string, got float64, met bool) {
		r.Targets = append(r.Targets, targetCheck{name, got, want, met})
	}
	closed := map[string]map[int]point{}
	for _, p := range r.Points {
		if p.Loop == "closed" {
			if closed[p.Mode] == nil {
				closed[p.Mode] = map[int]point{}
			}
			closed[p.Mode][p.Sessions] = p
			if p.Mode == "memory" && p.Relay.Fanout <= 1 { // one socket per callback
				// Counted at the sockets, never the answers, and only with nothing lost.
				add(fmt.Sprintf("events delivered at the socket, %d sessions, ratio to bare answers (0 lost, 0 dup)", p.Sessions), ">= 0.60",
					p.Ratio["delivered_per_s"], p.Ratio["delivered_per_s"] >= 0.6 && p.Relay.Lost == 0 && p.Relay.Duplicated == 0)
			}
		}
		if p.Loop == "open" && p.Rate == 2000 && p.Sessions == 1000 {
			add(fmt.Sprintf("%s: p99 callback→socket at 2000 events/s over 1000 sessions (ms)", p.Mode), "<= 5",
				p.Relay.Latency.P99, p.Relay.Latency.P99 <= 5)
		}
	}
	for n, m := range closed["memory"] {
		if rd, ok := closed["redis"][n]; ok && m.Relay.DeliveredPerSecond > 0 {
			x := rd.Relay.DeliveredPerSecond / m.Relay.DeliveredPerSecond
			add(fmt.Sprintf("redis / in-memory frames delivered per second, closed loop, %d sessions", n), ">= 0.75", x, x >= 0.75)
		}
	}
	for _, f := range r.Idle {
		if f.Sockets >= 10000 && f.Bare.RSSKiB > 0 {
			x := f.Relay.RSSKiB / f.Bare.RSSKiB
			add(fmt.Sprintf("%s: RSS per idle socket at %d sockets, ratio to a bare coder/websocket server in the same run", f.Mode, f.Sockets), "<= 1.15",
				x, x <= 1.15)
		}
	}
}

func (r *report) clean() bool {
	for _, p := range r.Points {
		if !p.ok() {
			return false
		}
	}
	return true
}

func (r *report) writeJSON(name string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(b, '\n'), 0o644)
}

// table writes the figures for a person: per point, bare, relay and relay ÷ bare.
func (r *report) table(w io.Writer) {
	fmt.Fprintf(w, "machine: %s, %s CPUs, %s; %s\n", r.Machine["cpu"], r.Machine["nproc"], r.Machine["go"], r.Command)
	if len(r.Points) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "mode\tsessions\tload\tserver\tcallbacks/s\tfanout\tframes/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tanswer p99\tpeak RSS MiB\theap MiB\tgoroutines\terrors\tlost\tdup\tcrossed\tload avg\t")
		for _, p := range r.Points {
			load := fmt.Sprintf("%.0f ev/s", p.Rate)
			if p.Loop == "closed" {
				load = fmt.Sprintf("closed C=%d", p.Conns)
			}
			row := func(mode, sess, load string, f figures, avg string) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
					mode, sess, load, f.Server, f.PerSecond, f.Fanout, f.DeliveredPerSecond, f.Latency.P50, f.Latency.P90, f.Latency.P99,
					f.Latency.Max, f.Answer.P99, f.PeakRSSMiB, f.HeapMiB, f.Goroutines, f.Errors, f.Lost, f.Duplicated, f.Crossed, avg)
			}
			mode := p.Mode
			if p.Instances > 0 {
				mode = fmt.Sprintf("%s×%d", p.Mode, p.Instances)
			}
			row(mode, fmt.Sprint(p.Sessions), load, p.Bare, p.LoadAvg)
			row("", "", "", p.Relay, "")
			q := p.Ratio
			fmt.Fprintf(tw, "\t\t\trelay÷bare\t%.2f\t\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t\t\t\t\t\t\n",
				q["accepted_per_s"], q["delivered_per_s"], q["p50"], q["p90"], q["p99"], q["max"], q["answer_p99"], q["peak_rss"], q["heap"], q["goroutines"])
			if q := p.RatioToOne; q != nil {
				fmt.Fprintf(tw, "\t\t\t÷1 instance\t%.2f\t\t%.2f\t%.2f\t\t%.2f\t\t%.2f\t%.2f\t\t\t\t\t\t\t\n",
					q["accepted_per_s"], q["delivered_per_s"], q["p50"], q["p99"], q["answer_p99"], q["peak_rss"])
			}
		}
		tw.Flush()
	}
	if len(r.Idle) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\nidle sockets\tmode\tserver\tRSS KiB/socket\theap KiB/socket\tstack KiB/socket\tgoroutines/socket\tclient RSS KiB/socket\t")
		for _, f := range r.Idle {
			for _, x := range []idleSide{f.Bare, f.Relay} {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t\n", f.Sockets, f.Mode, x.Server,
					x.RSSKiB, x.HeapKiB, x.StackKiB, x.Goroutines, x.ClientRSSKiB)
			}
			q := f.Ratio
			fmt.Fprintf(tw, "\t\trelay÷bare\t%.2f\t%.2f\t%.2f\t%.2f\t\t\n", q["rss"], q["heap"], q["stack"], q["goroutines"])
		}
		tw.Flush()
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			mark := "MET "
			if !t.Met {
				mark = "MISS"
			}
			fmt.Fprintf(w, "  %s %s: %.2f (want %s)\n", mark, t.Target, t.Got, t.Want)
		}
	}
}
