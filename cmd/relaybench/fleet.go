package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/apptest"
	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

const (
	loginWorkers = 32              // browsers logging in at once
	setupTimeout = 5 * time.Minute // logging in and connecting one step of sockets
	probePrefix  = "relaybench-probe-"
)

// target is one relay session with its open socket: where to POST and how to sign.
type target struct {
	idx    int
	sid    string
	url    string // the callback
	secret []byte
	body   []byte // a channel.update notification of the session's streamer
}

// sock is one browser's socket and its reader's state.
type sock struct {
	conn    *websocket.Conn
	t       atomic.Pointer[target] // learnt from the probe
	lastSeq uint64                 // reader-owned
}

// fleet is N logged-in browsers with an open stream socket each, and a reader per socket
// that hands event frames to the current recorder.
type fleet struct {
	st      *stack
	client  *http.Client // callbacks (probes)
	browse  *http.Transport
	ctx     context.Context
	cancel  context.CancelFunc
	socks   []*sock
	probes  []*target // every session probed, by idx
	mu      sync.Mutex
	targets []*target // sessions with a socket of ours (mapped by their probe)
	mapped  atomic.Int64
	rec     atomic.Pointer[recorder]
	closing atomic.Bool

	sockErrs atomic.Int64 // sockets that ended while the fleet was open
	seqErrs  atomic.Int64 // seq not above the previous one on a socket
	bufs     sync.Pool
}

func newFleet(st *stack, client *http.Client) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	return &fleet{st: st, client: client, ctx: ctx, cancel: cancel,
		browse: &http.Transport{MaxIdleConns: 2 * loginWorkers, MaxIdleConnsPerHost: 2 * loginWorkers, IdleConnTimeout: 30 * time.Second},
		bufs:   sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// grow logs in and connects browsers until n sockets are open, then maps each socket to
// its relay session with one signed probe notification per new session.
func (f *fleet) grow(n int) error {
	from := len(f.socks)
	if n <= from {
		return nil
	}
	socks := make([]*sock, n-from)
	err := f.each(n-from, func(i int, user, streamer string) error {
		b, err := f.login(user, streamer)
		if err != nil {
			return err
		}
		as, err := b.Connect(f.ctx, "", 0)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		socks[i] = &sock{conn: as.Conn}
		go f.read(socks[i])
		return nil
	})
	for _, s := range socks {
		if s != nil {
			f.socks = append(f.socks, s)
		}
	}
	if err != nil {
		return err
	}
	// Probe every relay session the simulator saw a create for (a Redis mode relay may
	// also re-create sessions a previous process left) until every socket is mapped.
	byID := map[string]broadcaster{}
	for _, u := range f.st.h.Sim.Users() {
		byID[u.ID] = broadcaster{u.ID, u.Login, u.DisplayName}
	}
	deadline := time.Now().Add(setupTimeout)
	for f.mapped.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("probes reached %d of %d sockets", f.mapped.Load(), n)
		}
		sids, _ := f.st.waitSessions(len(f.probes)+1, 100*time.Millisecond)
		for _, ss := range sids[len(f.probes):] {
			t := newTarget(f.st.h.URL, len(f.probes), ss.sid, byID[ss.streamerID])
			f.mu.Lock()
			f.probes = append(f.probes, t)
			f.mu.Unlock()
			if err := f.post(t, probePrefix+strconv.Itoa(t.idx)); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
		}
	}
	f.mu.Lock()
	slices.SortFunc(f.targets, func(a, b *target) int { return a.idx - b.idx })
	f.mu.Unlock()
	return nil
}

// each runs fn for browsers 0..n-1 with loginWorkers at a time, each browser a viewer
// (one of the seeded users, cycling) watching one of the four seeded streamers.
func (f *fleet) each(n int, fn func(i int, user, streamer string) error) error {
	users := f.st.h.Sim.Users()
	streamers := users[:4]
	ctx, cancel := context.WithTimeout(f.ctx, setupTimeout)
	defer cancel()
	errs := make(chan error, loginWorkers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range loginWorkers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				g := len(f.socks) + i
				user, streamer := users[g%len(users)], streamers[g%len(streamers)]
				if streamer.ID == user.ID {
					streamer = streamers[(g+1)%len(streamers)]
				}
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

// login runs the real login flow in a new browser and chooses the streamer.
func (f *fleet) login(user, streamer string) (*apptest.Browser, error) {
	b := f.st.h.NewBrowser()
	b.Client.Transport = f.browse
	if err := b.Login(user); err != nil {
		return nil, err
	}
	if code, body, err := b.ChooseStreamer(streamer); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("choose streamer: %d %v %.200s", code, err, body)
	}
	return b, nil
}

func newTarget(base string, idx int, sid string, streamer broadcaster) *target {
	url := base + "/callback/" + sid
	return &target{idx: idx, sid: sid, url: url,
		secret: []byte(webhook.Secret([]byte(apptest.ServerSecret), sid)),
		body:   notificationBody(fmt.Sprintf("relaybench-sub-%d", idx), url, streamer)}
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

var (
	eventPrefix = []byte(`{"type":"event_updated","seq":`)
	eventIDKey  = []byte(`"event":{"id":"`)
)

// read hands every event frame of s to the current recorder until the socket ends.
func (f *fleet) read(s *sock) {
	for {
		_, r, err := s.conn.Reader(f.ctx)
		if err != nil {
			if !f.closing.Load() {
				f.sockErrs.Add(1)
			}
			return
		}
		buf := f.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		now := time.Now().UnixNano()
		if err == nil {
			f.frame(s, buf.Bytes(), now)
		}
		f.bufs.Put(buf)
	}
}

func (f *fleet) frame(s *sock, b []byte, now int64) {
	if !bytes.HasPrefix(b, eventPrefix) {
		return // welcome, feed_status
	}
	rest := b[len(eventPrefix):]
	end := bytes.IndexByte(rest, ',')
	seq, _ := strconv.ParseUint(string(rest[:max(end, 0)]), 10, 64)
	if seq <= s.lastSeq {
		f.seqErrs.Add(1)
	}
	s.lastSeq = seq
	i := bytes.Index(rest, eventIDKey)
	if i < 0 {
		return
	}
	id := rest[i+len(eventIDKey):]
	id = id[:max(bytes.IndexByte(id, '"'), 0)]
	if k, ok := bytes.CutPrefix(id, []byte(probePrefix)); ok {
		f.mu.Lock()
		if n, err := strconv.Atoi(string(k)); err == nil && n < len(f.probes) && s.t.Load() == nil {
			s.t.Store(f.probes[n])
			f.targets = append(f.targets, f.probes[n])
			f.mapped.Add(1)
		}
		f.mu.Unlock()
		return
	}
	if rec := f.rec.Load(); rec != nil {
		rec.received(id, s.t.Load(), now)
	}
}

// close closes every socket normally and stops the readers.
func (f *fleet) close() {
	f.closing.Store(true)
	for _, s := range f.socks {
		s.conn.Close(websocket.StatusNormalClosure, "bye")
	}
	f.cancel()
	f.browse.CloseIdleConnections()
}

// notificationBody is a channel.update notification for streamer, shaped like the
// simulator's (PROTOCOL.md §4.3): the subscription, then Twitch's event.
func notificationBody(subID, callback string, streamer broadcaster) []byte {
	b, _ := json.Marshal(struct {
		Subscription eventsub.Subscription `json:"subscription"`
		Event        any                   `json:"event"`
	}{eventsub.Subscription{ID: subID, Status: eventsub.StatusEnabled, Type: eventsub.TypeChannelUpdate,
		Version: "2", Condition: eventsub.Condition{"broadcaster_user_id": streamer.ID},
		Transport: eventsub.Transport{Method: "webhook", Callback: callback}, CreatedAt: time.Now().UTC()},
		channelUpdate{streamer, "Any% attempts — road to sub 30", "en", "509658", "Retro", []string{}}})
	return b
}

type broadcaster struct {
	ID    string `json:"broadcaster_user_id"`
	Login string `json:"broadcaster_user_login"`
	Name  string `json:"broadcaster_user_name"`
}

type channelUpdate struct {
	broadcaster
	Title        string   `json:"title"`
	Language     string   `json:"language"`
	CategoryID   string   `json:"category_id"`
	CategoryName string   `json:"category_name"`
	Labels       []string `json:"content_classification_labels"`
}
