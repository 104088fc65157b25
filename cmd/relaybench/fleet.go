package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

const (
	loginWorkers = 32              // browsers logging in at once
	setupTimeout = 5 * time.Minute // logging in and connecting one step of sockets
	probePrefix  = "relaybench-probe-"
)

// target is one shared subscription: where to POST and how to sign.
type target struct {
	idx    int // the streamer: index in Sim.Users()
	sid    string
	url    string // the callback
	secret []byte
	body   []byte // a channel.update notification of the session's streamer
}

// sock is one browser's socket and its reader's state.
type sock struct {
	mu      sync.Mutex
	conn    *websocket.Conn // nil when the socket lives in the child; replaced by resume (mu)
	b       *client.Browser // its browser, to reconnect (in-process sockets only)
	resumed int             // reader-owned
	k       int             // the streamer it watches: index in Sim.Users()
	inst    int             // the relay instance it is connected to (broker mode; else 0)
	ready   bool            // a probe arrived (reader-owned)
	lastSeq uint64          // reader-owned
	epoch   string          // reader-owned: the hub epoch of lastSeq
}

// fleet is N logged-in browsers with an open stream socket each, and a reader per socket
// that hands event frames to the current recorder.
type fleet struct {
	st      host
	users   []twitchsim.User // the simulator's, in seed order (read once)
	client  *http.Client     // callbacks (probes)
	browse  *http.Transport
	ctx     context.Context
	cancel  context.CancelFunc
	socks   []*sock
	targets []*target // one per watched streamer
	fanout  []int     // sockets watching each streamer
	mapped  atomic.Int64
	rec     atomic.Pointer[recorder]
	closing atomic.Bool

	remote   *remote      // the browsers' ends in a child process, or nil
	sockErrs atomic.Int64 // sockets that ended while the fleet was open and could not resume
	seqErrs  atomic.Int64 // seq not above the previous one on a socket
	resumes  atomic.Int64 // reconnects that resumed from the last seq, as the page does
	gaps     atomic.Int64 // history_gap frames: the server could not replay what was missed
	bufs     sync.Pool
}

func newFleet(st host, client *http.Client) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	return &fleet{st: st, client: client, ctx: ctx, cancel: cancel,
		browse: &http.Transport{MaxIdleConns: 2 * loginWorkers, MaxIdleConnsPerHost: 2 * loginWorkers, IdleConnTimeout: 30 * time.Second},
		bufs:   sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// grow logs in and connects browsers until n sockets are open. Browser g watches streamer
// g mod 10 (every seeded user is a channel). The relay shares one EventSub subscription
// per (type, condition) among the sessions that need it, so a notification for streamer
// k reaches every socket watching k: targets[k] is k's channel.update subscription, posted
// to the callback of the session that created it, as Twitch would.
func (f *fleet) grow(n int) error {
	from := len(f.socks)
	if n <= from {
		return nil
	}
	users, err := f.simUsers()
	if err != nil {
		return err
	}
	socks := make([]*sock, n-from)
	job := idleJob{WS: "ws://" + f.st.socketAddr(0) + "/ws", Origin: f.st.publicURL(), Cookies: make([]string, n-from)}
	err = f.each(n-from, func(i int, user, streamer string) error {
		b, inst, err := f.login(from+i, user, streamer)
		if err != nil {
			return err
		}
		k := (from + i) % len(users)
		if f.remote != nil {
			job.Cookies[i] = cookieHeader(b, f.st.publicURL())
			socks[i] = &sock{k: k}
			return nil
		}
		as, err := b.Connect(f.ctx, "", 0)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		socks[i] = &sock{conn: as.Conn, b: b, k: k, inst: inst}
		go f.read(socks[i])
		return nil
	})
	if err == nil && f.remote != nil {
		err = f.remote.open(job, setupTimeout)
	}
	for _, s := range socks {
		if s != nil {
			f.socks = append(f.socks, s)
		}
	}
	if err != nil {
		return err
	}
	f.fanout = make([]int, len(users))
	for _, s := range f.socks {
		f.fanout[s.k]++
	}
	deadline := time.Now().Add(setupTimeout)
	f.targets = f.targets[:0]
	for k, u := range users {
		if f.fanout[k] == 0 {
			continue
		}
		for {
			if sub, ok := f.subscription(u.ID); ok {
				f.targets = append(f.targets, newTarget(k, sub, broadcaster{u.ID, u.Login, u.DisplayName}))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no enabled channel.update subscription for %s", u.Login)
			}
			time.Sleep(50 * time.Millisecond) // the simulator's list has no channel to wait on
		}
	}
	// Probe until every socket has seen one: its session then receives the subscription.
	for try := 0; f.mapped.Load() < int64(n); try++ {
		if time.Now().After(deadline) {
			return fmt.Errorf("probes reached %d of %d sockets", f.mapped.Load(), n)
		}
		for _, t := range f.targets {
			if err := f.post(t, fmt.Sprintf("%s%d-%d", probePrefix, t.idx, try)); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
		}
		time.Sleep(200 * time.Millisecond) // let the probes arrive; bounded by the deadline
	}
	return nil
}

// simUsers is the simulator's users, asked once.
func (f *fleet) simUsers() ([]twitchsim.User, error) {
	if f.users == nil {
		us, err := f.st.simUsers()
		if err != nil {
			return nil, fmt.Errorf("simulator users: %w", err)
		}
		if len(us) == 0 {
			return nil, fmt.Errorf("simulator users: none")
		}
		f.users = us
	}
	return f.users, nil
}

// subscription is the enabled channel.update subscription of a broadcaster, if any.
func (f *fleet) subscription(broadcasterID string) (eventsub.Subscription, bool) {
	subs, err := f.st.simSubscriptions()
	if err != nil {
		return eventsub.Subscription{}, false // asked again until the deadline
	}
	for _, sub := range subs {
		if sub.Type == eventsub.TypeChannelUpdate && sub.Status == eventsub.StatusEnabled &&
			sub.Condition["broadcaster_user_id"] == broadcasterID {
			return sub, true
		}
	}
	return eventsub.Subscription{}, false
}

// each runs fn for browsers 0..n-1 with loginWorkers at a time: browser g (counting the
// sockets already open) is seeded user g+1 watching seeded user g, modulo ten.
func (f *fleet) each(n int, fn func(i int, user, streamer string) error) error {
	users, err := f.simUsers()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(f.ctx, setupTimeout)
	defer cancel()
	errs := make(chan error, loginWorkers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range loginWorkers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				g := len(f.socks) + i
				user, streamer := users[(g+1)%len(users)], users[g%len(users)]
				if err := fn(i, user.Login, streamer.Login); err != nil {
					errs <- fmt.Errorf("browser %d (%s watching %s): %w", g, user.Login, streamer.Login, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// login runs the real login flow in browser g (its socket goes to instance g mod the
// instances) and chooses the streamer.
func (f *fleet) login(g int, user, streamer string) (*client.Browser, int, error) {
	b, inst := f.st.browser(g)
	b.Client.Transport = f.browse
	if err := b.Login(user); err != nil {
		return nil, 0, err
	}
	if code, body, err := b.ChooseStreamer(streamer); err != nil || code != http.StatusOK {
		return nil, 0, fmt.Errorf("choose streamer: %d %v %.200s", code, err, body)
	}
	return b, inst, nil
}

// newTarget posts sub's notifications to its creator's callback, signed with its secret.
func newTarget(k int, sub eventsub.Subscription, streamer broadcaster) *target {
	url := sub.Transport.Callback
	sid := path.Base(url)
	return &target{idx: k, sid: sid, url: url,
		secret: []byte(webhook.Secret([]byte(client.ServerSecret), sid)),
		body:   notificationBody(sub, streamer)}
}

// post sends one signed notification to t and expects 204.
func (f *fleet) post(t *target, id string) error {
	resp, err := f.client.Do(signedRequest(t, t.url, id))
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("callback answered %d", resp.StatusCode)
	}
	return nil
}

// close closes every socket normally and stops the readers.
func (f *fleet) close() {
	f.closing.Store(true)
	if f.remote != nil {
		f.remote.close()
	}
	for _, s := range f.socks {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close(websocket.StatusNormalClosure, "bye")
		}
		s.mu.Unlock()
	}
	f.cancel()
	f.browse.CloseIdleConnections()
}
