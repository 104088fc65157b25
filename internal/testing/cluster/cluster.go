// Package cluster runs twitchrelay as several real processes for tests: the standalone
// simulator (cmd/twitchsim), N relay processes (cmd/twitchrelay) sharing one Redis, and a
// round-robin TCP balancer (internal/testing/balancer) in front as PUBLIC_URL, so a browser
// and Twitch's deliveries land on any instance. Everything listens on loopback; every wait is
// bounded.
package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/procs"
	"github.com/twitchrelay/twitchrelay/internal/testing/balancer"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Bounds of the harness's waits (internal/procs's).
const (
	StartTimeout = procs.StartTimeout // a process prints where it listens
	StopTimeout  = procs.StopTimeout  // a process exits after SIGTERM or SIGKILL
	clientID     = "clustertestclientid00000000000"
	clientSecret = "clustertestclientsecret0000000"
)

// Binaries are the built commands.
type Binaries = procs.Binaries

// Build compiles cmd/twitchrelay and cmd/twitchsim into dir (from the module root, found
// from the working directory).
func Build(dir string) (Binaries, error) { return procs.Build(dir) }

// Options configure a Cluster.
type Options struct {
	Instances int    // relay processes to start
	RedisURL  string // shared by them
	Prefix    string // REDIS_KEY_PREFIX (a test's own)
	Env       []string
}

// Cluster is the simulator, the relays and the balancer of one test; stopped when it ends.
type Cluster struct {
	t      testing.TB
	bin    Binaries
	opt    Options
	LB     *balancer.Balancer
	SimURL string
	Relays []*Relay
	http   *http.Client
}

// Relay is one relay process.
type Relay struct {
	Addr string // host:port it listens on
	Name string
	proc *procs.Proc
	Log  *syncbuf.Buffer
}

// Start starts the balancer, the simulator and opt.Instances relays behind the balancer.
func Start(t testing.TB, bin Binaries, opt Options) *Cluster {
	t.Helper()
	lb, err := balancer.New()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, opt: opt, LB: lb, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		for _, r := range c.Relays {
			r.stop(syscall.SIGTERM)
		}
		lb.Close()
	})
	simLog := &syncbuf.Buffer{}
	sim := exec.Command(bin.Sim, "-client-id", clientID, "-client-secret", clientSecret,
		"-redirect-uri", c.URL()+"/auth", "-retries", "40", "-retry-backoff", "100ms", "-max-failures", "1000", "-fresh-connections")
	p := startProcess(t, sim, simLog, regexp.MustCompile(`twitchsim listening on (\S+)`), true)
	t.Cleanup(func() {
		if err := p.Stop(syscall.SIGTERM); err != nil {
			t.Errorf("twitchsim: %v", err)
		}
	})
	c.SimURL = p.Found
	for range opt.Instances {
		c.StartRelay()
	}
	return c
}

// URL is the balancer's, the relays' PUBLIC_URL.
func (c *Cluster) URL() string { return "http://" + c.LB.Addr() }

// StartRelay starts one more relay process and adds it to the balancer.
func (c *Cluster) StartRelay() *Relay {
	c.t.Helper()
	r := &Relay{Log: &syncbuf.Buffer{}, Name: fmt.Sprintf("relay-%d", len(c.Relays)+1)}
	cmd := exec.Command(c.bin.Relay)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"LISTEN_ADDR=127.0.0.1:0", "PUBLIC_URL=" + c.URL(), "LOG_FORMAT=json", "LOG_LEVEL=info",
		"TWITCH_CLIENT_ID=" + clientID, "TWITCH_CLIENT_SECRET=" + clientSecret,
		"SERVER_SECRET=" + strings.Repeat("s", 40),
		"TWITCH_OAUTH_URL=" + c.SimURL + "/id/oauth2", "TWITCH_HELIX_URL=" + c.SimURL + "/helix",
		"TWITCH_EVENTSUB_WS_URL=ws" + strings.TrimPrefix(c.SimURL, "http") + "/ws", // chat highlights dial it in webhook mode too
		"REDIS_URL=" + c.opt.RedisURL, "REDIS_KEY_PREFIX=" + c.opt.Prefix,
		"SHUTDOWN_TIMEOUT=10s",
	}, c.opt.Env...)
	r.proc = startProcess(c.t, cmd, r.Log, regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`), false)
	r.Addr = r.proc.Found
	c.Relays = append(c.Relays, r)
	c.syncBackends()
	return r
}

// syncBackends points the balancer at the relays still running.
func (c *Cluster) syncBackends() {
	var addrs []string
	for _, r := range c.Relays {
		if !r.exited() {
			addrs = append(addrs, r.Addr)
		}
	}
	c.LB.SetBackends(addrs...)
}

// Kill sends SIGKILL (no shutdown at all) and waits for the process to go.
func (c *Cluster) Kill(r *Relay) {
	c.t.Helper()
	r.stop(syscall.SIGKILL)
	c.syncBackends()
}

// Stop sends SIGTERM (a graceful shutdown) and waits for the process to exit. The balancer
// stops sending it new connections first, as a proxy's health check would.
func (c *Cluster) Stop(r *Relay) {
	c.t.Helper()
	var others []string
	for _, o := range c.Relays {
		if o != r && !o.exited() {
			others = append(others, o.Addr)
		}
	}
	c.LB.SetBackends(others...)
	r.stop(syscall.SIGTERM)
	c.syncBackends()
}

func (r *Relay) stop(sig syscall.Signal) { r.proc.Stop(sig) }

func (r *Relay) exited() bool { return r.proc.Exited() }

// Sockets is the relay's open browser sockets (its /metrics websockets_open gauge).
func (c *Cluster) Sockets(r *Relay) int { return c.Gauge(r, "websockets_open") }

// TwitchSessions is how many Twitch users' EventSub WebSocket sessions the relay keeps (its
// /metrics twitch_ws_users gauge).
func (c *Cluster) TwitchSessions(r *Relay) int { return c.Gauge(r, "twitch_ws_users") }

// Gauge is the value of the relay's twitchrelay_<name> metric, -1 if it cannot be read.
func (c *Cluster) Gauge(r *Relay, name string) int {
	resp, err := c.http.Get("http://" + r.Addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "twitchrelay_"+name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// Running is the relays not stopped or killed.
func (c *Cluster) Running() []*Relay {
	var out []*Relay
	for _, r := range c.Relays {
		if !r.exited() {
			out = append(out, r)
		}
	}
	return out
}

// Browser is a person's browser talking to the balancer.
func (c *Cluster) Browser() *client.Browser { return client.NewBrowser(c.URL(), c.LB.Addr()) }

// Trigger asks the simulator for an event (POST /sim/trigger) and returns once it was
// delivered, with its retries.
func (c *Cluster) Trigger(form url.Values) error {
	_, err := c.TriggerCount(form)
	return err
}

// TriggerCount is Trigger, and says to how many subscriptions the event went (webhook
// callbacks that answered 2xx, WebSocket frames written).
func (c *Cluster) TriggerCount(form url.Values) (int, error) {
	resp, err := c.http.PostForm(c.SimURL+"/sim/trigger", form)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("trigger %v: %s %s", form, resp.Status, body)
	}
	var got struct {
		Deliveries []struct {
			Callback string `json:"callback"`
			Status   int    `json:"status"`
			Attempts int    `json:"attempts"`
			Error    string `json:"error"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return 0, fmt.Errorf("trigger %v: %w", form, err)
	}
	n := 0
	for _, d := range got.Deliveries {
		if strings.HasPrefix(d.Callback, "websocket:") { // a frame Twitch wrote, or could not: no retries on this transport
			if d.Error == "" {
				n++
			}
			continue
		}
		if d.Status < 200 || d.Status > 299 { // Twitch gave up: not the relay's to recover
			return n, fmt.Errorf("trigger %v: delivery failed after %d attempts: %d %s", form, d.Attempts, d.Status, d.Error)
		}
		n++
	}
	return n, nil
}

// State is the simulator's GET /sim/state: the webhook and WebSocket subscriptions and the
// connected EventSub WebSocket sessions.
func (c *Cluster) State() (twitchsim.State, error) {
	resp, err := c.http.Get(c.SimURL + "/sim/state")
	if err != nil {
		return twitchsim.State{}, err
	}
	defer resp.Body.Close()
	var st twitchsim.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return twitchsim.State{}, fmt.Errorf("sim state: %w", err)
	}
	return st, nil
}

// Subscriptions are the simulator's EventSub subscriptions.
func (c *Cluster) Subscriptions() ([]eventsub.Subscription, error) {
	resp, err := c.http.Get(c.SimURL + "/sim/state")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Subscriptions []eventsub.Subscription `json:"subscriptions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return st.Subscriptions, nil
}

// Logs is every relay's log, for a failing test's message.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, r := range c.Relays {
		fmt.Fprintf(&b, "==== %s (%s)\n%s", r.Name, r.Addr, r.Log.String())
	}
	return b.String()
}

// startProcess starts cmd (internal/procs), copying its output into log, and fails the test
// with that output if it does not print the line re matches (on stdout if onStdout, else
// stderr) within StartTimeout.
func startProcess(t testing.TB, cmd *exec.Cmd, log *syncbuf.Buffer, re *regexp.Regexp, onStdout bool) *procs.Proc {
	t.Helper()
	p, err := procs.Start(cmd, log, re, onStdout)
	if err != nil {
		t.Fatalf("%v:\n%s", err, log.String())
	}
	return p
}
