package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
)

// idleFigures are the server's costs per idle socket: the relay's and, for the ratio, a
// bare coder/websocket server's that only reads. The client sockets live in a child
// process, so this process's growth is the server's alone.
type idleFigures struct {
	Mode    string             `json:"mode"`
	Sockets int                `json:"sockets"`
	Bare    idleSide           `json:"bare"`
	Relay   idleSide           `json:"relay"`
	Ratio   map[string]float64 `json:"ratio_to_bare"`
}

type idleSide struct {
	Server       string  `json:"server"`
	RSSKiB       float64 `json:"rss_kib_per_socket"`
	HeapKiB      float64 `json:"heap_inuse_kib_per_socket"`
	StackKiB     float64 `json:"stack_kib_per_socket"`
	Goroutines   float64 `json:"goroutines_per_socket"`
	ClientRSSKiB float64 `json:"client_rss_kib_per_socket"`
}

// idleJob is what the parent tells the child: where to dial and each browser's cookies.
type idleJob struct {
	WS      string   `json:"ws"`
	Origin  string   `json:"origin"`
	Cookies []string `json:"cookies"` // one Cookie header per socket ("" = none)
}

type snapshot struct{ rss, heap, stack, goroutines int64 }

// snap measures after a few collections: each may shrink an idle goroutine's stack by
// half, as a long-lived idle socket's would be over time.
func snap() snapshot {
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{rssBytes(0), int64(ms.HeapInuse), int64(ms.StackInuse), int64(runtime.NumGoroutine())}
}

func measureIdle(ctx context.Context, o options, mode string, n int, logf func(string, ...any)) (idleFigures, error) {
	out := idleFigures{Mode: mode, Sockets: n}
	// Bare: a coder/websocket server whose handler reads until the socket ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return out, err
	}
	var open atomic.Int64
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		open.Add(1)
		defer open.Add(-1)
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	})}
	go bare.Serve(ln)
	defer bare.Close()
	out.Bare, err = holdSockets(ctx, idleJob{WS: "ws://" + ln.Addr().String() + "/ws", Origin: "http://" + ln.Addr().String(),
		Cookies: make([]string, n)}, func() bool { return open.Load() == int64(n) }, "")
	if err != nil {
		return out, fmt.Errorf("bare: %w", err)
	}
	out.Bare.Server = "bare-ws"

	redisURL := ""
	if mode == "redis" {
		redisURL = o.redisURL
	}
	logTo, closeLog, err := o.logTo()
	if err != nil {
		return out, err
	}
	defer closeLog()
	st, err := startStack(redisURL, o.logLevel, logTo)
	if err != nil {
		return out, err
	}
	defer st.stop()
	start := time.Now()
	job := idleJob{WS: "ws://" + st.addr + "/ws", Origin: st.url, Cookies: make([]string, n)}
	if err := loginAll(st, n, func(i int, cookie string) { job.Cookies[i] = cookie }); err != nil {
		return out, err
	}
	logf("idle %s: %d browsers logged in (%.1fs)", mode, n, time.Since(start).Seconds())
	out.Relay, err = holdSockets(ctx, job, func() bool { return st.app.Hub.Stats().Subscribers == n }, o.memProfile)
	if err != nil {
		return out, fmt.Errorf("relay: %w", err)
	}
	out.Relay.Server = "relay-" + mode
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	out.Ratio = map[string]float64{"rss": div(out.Relay.RSSKiB, out.Bare.RSSKiB), "heap": div(out.Relay.HeapKiB, out.Bare.HeapKiB),
		"stack": div(out.Relay.StackKiB, out.Bare.StackKiB), "goroutines": div(out.Relay.Goroutines, out.Bare.Goroutines)}
	logf("idle %s %d: relay %.1f KiB RSS/socket, bare %.1f", mode, n, out.Relay.RSSKiB, out.Bare.RSSKiB)
	return out, nil
}

// loginAll logs n browsers in (real flow, streamer chosen), lets each page's socket subscribe
// once (stream_connected) and close, and hands over their cookies: the idle sockets measured
// afterwards are those of subscribed sessions, so the figure is what a socket costs, not
// what its session's subscriptions do (they are made once per session, by its first socket).
func loginAll(st *stack, n int, put func(i int, cookie string)) error {
	f := newFleet(st, nil)
	defer f.close()
	return f.each(n, func(i int, user, streamer string) error {
		b, _, err := f.login(i, user, streamer)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		s, err := b.Connect(ctx, "", 0)
		if err != nil {
			return fmt.Errorf("first socket: %w", err)
		}
		defer s.Close()
		if _, err := s.WaitFeeds(ctx, func(fs map[string]client.Feed) bool {
			for _, fd := range fs {
				if fd.Status == "pending" {
					return false
				}
			}
			return len(fs) > 0
		}); err != nil {
			return fmt.Errorf("first socket: feeds: %w", err)
		}
		put(i, cookieHeader(b, st.url))
		return nil
	})
}

// cookieHeader is the Cookie header b sends to base.
func cookieHeader(b *client.Browser, base string) string {
	u, _ := url.Parse(base)
	var parts []string
	for _, c := range b.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// holdSockets measures this process before and after a child opens the job's sockets.
// With heapProfile, it also writes the heap profile of that moment there, and the goroutines
// (counted by stack) to heapProfile.goroutines.
func holdSockets(ctx context.Context, job idleJob, settled func() bool, heapProfile string) (idleSide, error) {
	exe, err := os.Executable()
	if err != nil {
		return idleSide{}, err
	}
	before := snap()
	cctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "-idle-client")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return idleSide{}, err
	}
	defer cmd.Wait()
	defer stdin.Close()
	if err := json.NewEncoder(stdin).Encode(job); err != nil {
		return idleSide{}, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return idleSide{}, fmt.Errorf("idle client: %q %v", line, err)
	}
	// Wait for the server side to settle: every socket subscribed, background work done.
	deadline, last, stable := time.Now().Add(60*time.Second), -1, 0
	for time.Now().Before(deadline) && stable < 10 {
		g := runtime.NumGoroutine()
		if settled() && g == last {
			stable++
		} else {
			stable = 0
		}
		last = g
		time.Sleep(100 * time.Millisecond) // polling counters, bounded by the deadline
	}
	after := snap()
	if heapProfile != "" {
		if fh, err := os.Create(heapProfile); err == nil {
			pprof.Lookup("heap").WriteTo(fh, 0)
			fh.Close()
		}
		if fh, err := os.Create(heapProfile + ".goroutines"); err == nil { // what the goroutines per socket are
			pprof.Lookup("goroutine").WriteTo(fh, 1)
			fh.Close()
		}
	}
	n := float64(len(job.Cookies))
	kib := func(d int64) float64 { return float64(d) / 1024 / n }
	return idleSide{RSSKiB: kib(after.rss - before.rss), HeapKiB: kib(after.heap - before.heap),
		StackKiB: kib(after.stack - before.stack), Goroutines: float64(after.goroutines-before.goroutines) / n,
		ClientRSSKiB: kib(rssBytes(cmd.Process.Pid))}, nil
}

// idleClient is the child: it opens every socket of the job, says stream_connected, reads
// whatever comes, prints "ready", and exits when its stdin closes.
func idleClient(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	var job idleJob
	dec := json.NewDecoder(stdin)
	if err := dec.Decode(&job); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	hello := []byte(`{"type":"stream_connected","epoch":"","last_seq":0}`)
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	for range loginWorkers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(job.Cookies) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				hdr := http.Header{"Origin": {job.Origin}}
				if job.Cookies[i] != "" {
					hdr.Set("Cookie", job.Cookies[i])
				}
				c, _, err := websocket.Dial(ctx, job.WS, &websocket.DialOptions{HTTPHeader: hdr})
				if err == nil {
					err = c.Write(ctx, websocket.MessageText, hello)
				}
				if err != nil {
					failed.Store(err)
					cancel()
					return
				}
				go func() {
					for {
						if _, _, err := c.Read(ctx); err != nil {
							return
						}
					}
				}()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready")
	io.Copy(io.Discard, stdin) // until the parent closes it
	return nil
}
