package securitytest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// soakConfig decides whether and how long TestSoak runs: opt-in locally (SOAK=1, or -run
// naming it), brief in CI; SOAK_SECONDS and SOAK_SESSIONS override.
func soakConfig(t *testing.T) (sessions int, d time.Duration) {
	run := flag.Lookup("test.run").Value.String()
	switch {
	case os.Getenv("SOAK") != "" || strings.Contains(run, "Soak"):
		sessions, d = 200, 60*time.Second
	case os.Getenv("CI") != "":
		sessions, d = 100, 6*time.Second
	default:
		t.Skip("soak test: opt in with SOAK=1 (SOAK_SECONDS, SOAK_SESSIONS) or -run Soak; CI runs it briefly")
	}
	if n, err := strconv.Atoi(os.Getenv("SOAK_SECONDS")); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	}
	if n, err := strconv.Atoi(os.Getenv("SOAK_SESSIONS")); err == nil && n > 0 {
		sessions = n
	}
	return sessions, d
}

// TestSoak: hundreds of logged-in sessions with sockets on the four simulated streamers;
// for a bounded time the simulator triggers title changes (every third delivered twice) and
// signed callbacks go straight to each streamer's subscription (every tenth sent twice),
// while sockets drop at random and resume. Afterwards every session has every event of its
// streamer exactly once, in order, and once the sessions are gone memory and goroutines are
// back near the baseline.
func TestSoak(t *testing.T) {
	n, duration := soakConfig(t)
	opt, _ := patientSim(t)
	// Released soon after the last socket closes, but not while a dropped socket reconnects on
	// a machine busy with other tests (-race): a lease shorter than a slow resume would release
	// the session mid-soak and the page would rightly see a history gap.
	opt.Lease = 10 * time.Second
	// Hundreds of sessions of six accounts, each choosing a streamer: not one person's streamer
	// changes (TestStreamerChurnDoesNotStarveOthers has those).
	if opt.Env == nil {
		opt.Env = map[string]string{}
	}
	opt.Env["STREAMER_CHANGES_PER_MINUTE"] = "1000000"
	// ... and hundreds of sockets from one loopback address (TestSocketsPerSessionAndAddressAreCapped
	// has the caps).
	opt.Env["WS_MAX_PER_IP"] = "1048576"
	h := apptest.Start(t, opt)
	base, baseG := settle()

	logins := []string{"pixelpaladin", "cozycrafter", "nightowl_tv", "speedy_sam"}
	viewers := []string{"lurker_lou", "modmaria", "chatterbox42", "h4x0r", "quietquinn", "gamergrace"}
	feeds := make([]*feed, len(logins))
	for i, l := range logins {
		feeds[i] = &feed{login: l}
	}
	// The soak drops a socket about once in 40 events and a busy server closes slow ones:
	// allow for that, per 10 s of load.
	maxResumes := apptest.MaxResumes * (1 + int(duration/(10*time.Second)))
	setup := time.Now()
	ss := make([]*soaker, n)
	for i := range ss {
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		b := loggedIn(t, h, viewers[i%len(viewers)], logins[i%len(logins)])
		s, err := b.Connect(ctx, "", 0)
		if err == nil {
			_, err = s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool { return f["stream_changed"].Status == "active" })
		}
		cancel()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		ss[i] = &soaker{s: s.ResumeOnClose(maxResumes), feed: feeds[i%len(feeds)]}
	}
	setupTook := time.Since(setup)
	for _, f := range feeds { // the subscription each streamer's sessions share
		u, _ := h.Sim.User(f.login)
		for _, sub := range h.Sim.Subscriptions() {
			if sub.Type == eventsub.TypeChannelUpdate && sub.Condition["broadcaster_user_id"] == u.ID {
				f.sub, f.callback = sub, sub.Transport.Callback
				h.Sim.WaitVerified(t.Context(), sub.ID)
			}
		}
		if f.callback == "" {
			t.Fatalf("no channel.update subscription for %s", f.login)
		}
	}
	ctx, stop := context.WithTimeout(t.Context(), duration)
	defer stop()
	var readers sync.WaitGroup
	for i, x := range ss {
		readers.Go(func() { x.read(t.Context(), rand.New(rand.NewPCG(uint64(i), 8))) })
	}
	var producers sync.WaitGroup
	var simEvents, direct, dupes atomic.Int64
	producers.Go(func() { // Twitch: title changes round the streamers, every third one delivered twice
		pace := time.NewTicker(25 * time.Millisecond) // the load's shape, not a synchronisation
		defer pace.Stop()
		for k := 0; ctx.Err() == nil; k++ {
			<-pace.C
			f := feeds[k%len(feeds)]
			h.Sim.SetMisbehavior(twitchsim.Misbehavior{DuplicateDelivery: k%3 == 0})
			ds, err := h.Sim.UpdateChannel(context.Background(), f.login, fmt.Sprint("sim ", k), "")
			if err != nil {
				t.Errorf("trigger: %v", err)
				return
			}
			for _, d := range ds {
				if d.Err == nil && d.Callback == f.callback && f.expect("sim", d.MessageID) {
					simEvents.Add(1)
				}
			}
		}
	})
	for _, f := range feeds { // signed callbacks straight to each streamer's subscription
		producers.Go(func() {
			pace := time.NewTicker(10 * time.Millisecond)
			defer pace.Stop()
			sid := f.callback[strings.LastIndex(f.callback, "/")+1:]
			for k := 0; ctx.Err() == nil; k++ {
				<-pace.C
				id := fmt.Sprintf("direct-%s-%d", f.login, k)
				for range 1 + btoi(k%10 == 0) {
					if a := do(t, signedRequest(f.callback, secretOf(sid), msg{ID: id, Body: updateBody(f.sub, id)})); a.Status != 204 {
						t.Errorf("direct callback: %d", a.Status)
						return
					}
				}
				f.expect("direct", id)
				direct.Add(1)
				dupes.Add(int64(btoi(k%10 == 0)))
			}
		})
	}
	producers.Wait()
	drops, resumes := 0, 0
	for _, x := range ss {
		x.waitAll(t)
		x.check(t)
		drops += x.drops
		resumes += x.s.Resumes()
		x.close()
	}
	readers.Wait()
	ss, feeds = nil, nil // the test's own bookkeeping is not the relay's memory
	defer func() {
		if t.Failed() {
			t.Logf("hub %+v; sim subscriptions %d", h.App.Hub.Stats(), len(h.Sim.Subscriptions()))
			for _, l := range strings.Split(h.Logs.String(), "\n") {
				if strings.Contains(l, "lease") || strings.Contains(l, "releas") || strings.Contains(l, "ended") {
					t.Log(l[:min(len(l), 300)])
				}
			}
		}
	}()
	apptest.Wait(t, 45*time.Second, "every session released", func() bool { return h.App.Hub.Stats().Sessions == 0 })
	var afterG int
	apptest.Wait(t, 30*time.Second, "goroutines back near the baseline", func() bool {
		_, afterG = settle()
		return afterG <= baseG+10
	})
	after, _ := settle()
	logBytes := uint64(len(h.Logs.String())) // the test keeps every log line: not the relay's memory
	grown := int64(after.HeapInuse) - int64(base.HeapInuse) - int64(logBytes)
	t.Logf("observed: %d sessions (set up in %v), %v of load: %d simulator notifications + %d direct callbacks (+%d resent duplicates) fanned out to %d frames, %d socket drops (%d resumes in all, the server's 4000 closes included); every session got its streamer's events once, in order. Heap in use %.1f → %.1f MiB (%.1f MiB of it the test's log buffer), goroutines %d → %d",
		n, setupTook.Round(time.Millisecond), duration, simEvents.Load(), direct.Load(), dupes.Load(), (simEvents.Load()+direct.Load())*int64(n)/4, drops, resumes,
		mib(base.HeapInuse), mib(after.HeapInuse), mib(logBytes), baseG, afterG)
	if grown > 32<<20 {
		t.Errorf("heap in use grew by %.1f MiB (log buffer excluded) after the sessions were released", float64(grown)/(1<<20))
	}
}

// settle closes idle keep-alive connections (each holds client goroutines), collects garbage
// and returns the heap statistics and the number of goroutines.
func settle() (runtime.MemStats, int) {
	apptest.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
