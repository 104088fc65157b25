package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
)

// plot draws the curve by hand as SVG: left, p99 callback→socket latency against the
// arrival rate, one line per (mode, sessions), the bare handler's answer p99 dashed;
// right, closed-loop frames delivered/s against sessions, relay and bare.
func plot(pts []point) []byte {
	const w, h, pw, ph, top, left = 960, 420, 380, 300, 50, 70
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

	// Left panel: log2 rate on x, log10 ms on y.
	var rates []float64
	maxMS := 1.0
	for _, p := range pts {
		if p.Loop == "open" {
			if !slices.Contains(rates, p.Rate) {
				rates = append(rates, p.Rate)
			}
			maxMS = max(maxMS, p.Relay.Latency.P99, p.Bare.Latency.P99)
		}
	}
	slices.Sort(rates)
	if len(rates) > 0 {
		lo, hi := math.Log2(rates[0]), math.Log2(rates[len(rates)-1])
		if hi == lo {
			hi = lo + 1
		}
		yTop := math.Pow(10, math.Ceil(math.Log10(maxMS)))
		yLo := 0.01
		x := func(r float64) float64 { return left + (math.Log2(r)-lo)/(hi-lo)*pw }
		y := func(ms float64) float64 {
			return top + ph - (math.Log10(max(ms, yLo))-math.Log10(yLo))/(math.Log10(yTop)-math.Log10(yLo))*ph
		}
		axes(&b, left, top, pw, ph, "events delivered/s (open loop)", "p99 ms, log scale")
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">callback → socket p99 latency</text>`+"\n", left, top-20)
		for v := yLo; v <= yTop*1.001; v *= 10 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n",
				left, left+pw, y(v), y(v), left-6, y(v)+4, v)
		}
		for _, r := range rates {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x(r), top+ph+16, r)
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="2,3"/><text x="%d" y="%.1f" fill="#c00">5 ms target</text>`+"\n",
			left, left+pw, y(5), y(5), left+4, y(5)-4)
		i := 0
		for _, key := range seriesKeys(pts, "open") {
			var relay, bare []string
			for _, p := range pts {
				if p.Loop == "open" && fmt.Sprintf("%s %d", p.Mode, p.Sessions) == key {
					relay = append(relay, fmt.Sprintf("%.1f,%.1f", x(p.Rate), y(p.Relay.Latency.P99)))
					bare = append(bare, fmt.Sprintf("%.1f,%.1f", x(p.Rate), y(p.Bare.Latency.P99)))
				}
			}
			c := colors[i%len(colors)]
			line(&b, relay, c, "")
			line(&b, bare, c, "4,4")
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s sessions (dashed: bare)</text>`+"\n", left+pw+10, top+14*i+10, c, key)
			i++
		}
	}

	// Right panel: closed loop throughput by sessions.
	var closed []point
	for _, p := range pts {
		if p.Loop == "closed" {
			closed = append(closed, p)
		}
	}
	if len(closed) > 0 {
		const l2 = left + pw + 200
		var sess []int
		maxRate := 1.0
		for _, p := range closed {
			if !slices.Contains(sess, p.Sessions) {
				sess = append(sess, p.Sessions)
			}
			maxRate = max(maxRate, p.Bare.PerSecond, p.Relay.DeliveredPerSecond)
		}
		slices.Sort(sess)
		step := float64(pw-100) / float64(max(1, len(sess)-1))
		x := func(n int) float64 { return l2 + 20 + float64(slices.Index(sess, n))*step }
		y := func(v float64) float64 { return top + ph - v/(maxRate*1.1)*ph }
		axes(&b, l2, top, pw-60, ph, "sessions (closed loop)", "relay frames/s; bare callbacks/s")
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">closed-loop fan-out (sessions/10 per callback)</text>`+"\n", l2, top-20)
		for v := 0.0; v <= maxRate*1.1; v += niceStep(maxRate) {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n",
				l2, l2+pw-60, y(v), y(v), l2-6, y(v)+4, v)
		}
		for _, n := range sess {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(n), top+ph+16, n)
		}
		for i, mode := range []string{"memory", "redis"} {
			var relay, bare []string
			for _, p := range closed {
				if p.Mode == mode {
					relay = append(relay, fmt.Sprintf("%.1f,%.1f", x(p.Sessions), y(p.Relay.DeliveredPerSecond)))
					bare = append(bare, fmt.Sprintf("%.1f,%.1f", x(p.Sessions), y(p.Bare.PerSecond)))
				}
			}
			if len(relay) == 0 {
				continue
			}
			c := colors[i*2]
			line(&b, relay, c, "")
			line(&b, bare, c, "4,4")
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">relay-%s (dashed: bare in the same run)</text>`+"\n", l2, top+ph+36+14*i, c, mode)
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func seriesKeys(pts []point, loop string) []string {
	var keys []string
	for _, p := range pts {
		k := fmt.Sprintf("%s %d", p.Mode, p.Sessions)
		if p.Loop == loop && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func axes(b *bytes.Buffer, x, y, w, h int, xl, yl string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
		x, y+h, x+w, y+h, x, y, x, y+h)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+w/2, y+h+34, xl)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" transform="rotate(-90 %d %d)">%s</text>`+"\n", x-48, y+h/2, x-48, y+h/2, yl)
}

func line(b *bytes.Buffer, pts []string, color, dash string) {
	if len(pts) == 0 {
		return
	}
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, d, joinSpace(pts))
	for _, p := range pts {
		var px, py float64
		fmt.Sscanf(p, "%f,%f", &px, &py)
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px, py, color)
	}
}

func joinSpace(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// niceStep is a round grid step giving about five lines up to v.
func niceStep(v float64) float64 {
	raw := v / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
