package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/procs"
	"github.com/twitchrelay/twitchrelay/internal/testing/balancer"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

var (
	simListening   = regexp.MustCompile(`twitchsim listening on (\S+)`)
	relayListening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
)

// procStack is broker mode's relay: the standalone simulator (cmd/twitchsim) and n relay
// processes (cmd/twitchrelay) sharing one Redis under a namespace of their own, with a
// round-robin TCP balancer as their PUBLIC_URL (the simulator's verification challenges and
// the browsers' page requests go through it). The fleet pins each socket to an instance and
// the load sends each callback straight to an instance, both round-robin, so the balancer's
// copying is not in the figures.
type procStack struct {
	lb          *balancer.Balancer
	sim         *procs.Proc
	simURL      string
	relays      []*procs.Proc
	addrs       []string // relays[i] listens on addrs[i]
	redisURL    string
	redisPrefix string
	http        *http.Client
}

// startProcStack starts the simulator and n relays on Redis; logTo (nil: discarded) gets
// every process's output.
func startProcStack(bin procs.Binaries, n int, redisURL, logLevel string, logTo io.Writer) (st *procStack, err error) {
	lb, err := balancer.New()
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	st = &procStack{lb: lb, redisURL: redisURL, redisPrefix: fmt.Sprintf("relaybench:%d:", time.Now().UnixNano()),
		http: &http.Client{Timeout: 30 * time.Second}}
	defer func() {
		if err != nil {
			err = errors.Join(err, st.stop())
		}
	}()
	sim := exec.Command(bin.Sim, "-client-id", client.ClientID, "-client-secret", client.ClientSecret,
		"-redirect-uri", st.publicURL()+"/auth", "-retry-backoff", "1ms", "-fresh-connections")
	if st.sim, err = procs.Start(sim, logTo, simListening, true); err != nil {
		return st, err
	}
	st.simURL = st.sim.Found
	for i := range n {
		cmd := exec.Command(bin.Relay)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"LISTEN_ADDR=127.0.0.1:0", "PUBLIC_URL=" + st.publicURL(), "LOG_FORMAT=json", "LOG_LEVEL=" + logLevel,
			"TWITCH_CLIENT_ID=" + client.ClientID, "TWITCH_CLIENT_SECRET=" + client.ClientSecret,
			"SERVER_SECRET=" + client.ServerSecret,
			"TWITCH_OAUTH_URL=" + st.simURL + "/id/oauth2", "TWITCH_HELIX_URL=" + st.simURL + "/helix",
			"TWITCH_EVENTSUB_WS_URL=ws" + strings.TrimPrefix(st.simURL, "http") + "/ws",
			"REDIS_URL=" + redisURL, "REDIS_KEY_PREFIX=" + st.redisPrefix, "SHUTDOWN_TIMEOUT=5s",
			// As in startStack: the fleet is not one person, and one address on purpose.
			"STREAMER_CHANGES_PER_MINUTE=1000000", "WS_MAX_PER_SESSION=1048576", "WS_MAX_PER_IP=1048576",
		}
		p, err := procs.Start(cmd, logTo, relayListening, false)
		if err != nil {
			return st, fmt.Errorf("relay %d: %w", i+1, err)
		}
		st.relays, st.addrs = append(st.relays, p), append(st.addrs, p.Found)
	}
	lb.SetBackends(st.addrs...)
	return st, nil
}

// stop ends the relays (SIGTERM, as a deploy would), the simulator and the balancer, then
// deletes the run's Redis keys; bounded by procs.StopTimeout per process.
func (st *procStack) stop() error {
	var errs []error
	for _, r := range st.relays {
		errs = append(errs, r.Stop(syscall.SIGTERM))
	}
	if st.sim != nil {
		errs = append(errs, st.sim.Stop(syscall.SIGTERM))
	}
	st.lb.Close()
	if st.redisURL != "" {
		errs = append(errs, cleanRedis(st.redisURL, st.redisPrefix))
	}
	return errors.Join(errs...)
}

// pids are the relay processes', for their memory.
func (st *procStack) pids() []int {
	out := make([]int, len(st.relays))
	for i, r := range st.relays {
		out[i] = r.Pid()
	}
	return out
}

func (st *procStack) state() (twitchsim.State, error) {
	var s twitchsim.State
	resp, err := st.http.Get(st.simURL + "/sim/state")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("simulator state: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (st *procStack) simUsers() ([]twitchsim.User, error) {
	s, err := st.state()
	return s.Users, err
}

func (st *procStack) simSubscriptions() ([]eventsub.Subscription, error) {
	s, err := st.state()
	return s.Subscriptions, err
}

func (st *procStack) browser(g int) (*client.Browser, int) {
	inst := g % len(st.addrs)
	return client.NewBrowser(st.publicURL(), st.addrs[inst]), inst
}

func (st *procStack) publicURL() string          { return "http://" + st.lb.Addr() }
func (st *procStack) socketAddr(inst int) string { return st.addrs[inst] }
func (st *procStack) instances() int             { return len(st.addrs) }

func (st *procStack) callbackAt(callback string, inst int) string {
	u, err := url.Parse(callback)
	if err != nil {
		return callback
	}
	u.Host = st.addrs[inst]
	return u.String()
}
