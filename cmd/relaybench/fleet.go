package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	loginWorkers = 32               // browsers logging in at once
	setupTimeout = 5 * time.Minute  // logging in and connecting one step of sockets
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
	targets []*target
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
	users := f.st.h.Sim.Users()
	streamers := users[:4]
	socks := make([]*sock, n-from)
	errs := make(chan error, loginWorkers)
	next := atomic.Int64{}
	ctx, cancel := context.WithTimeout(f.ctx, setupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for range loginWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(socks) || ctx.Err() != nil {
					return
				}
				g := from + i
				user, streamer := users[g%len(users)], streamers[g%len(streamers)]
				if streamer.ID == user.ID {
					streamer = streamers[(g+1)%len(streamers)]
				}
				s, err := f.connect(ctx, user.Login, streamer.Login)
				if err != nil {
					errs <- fmt.Errorf("browser %d (%s → %s): %w", g, user.Login, streamer.Login, err)
					cancel()
					return
				}
				socks[i] = s
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	f.socks = append(f.socks, socks...)
	sids, err := f.st.waitSessions(n, setupTimeout)
	if err != nil {
		return err
	}
	byID := map[string]broadcaster{}
	for _, u := range users {
		byID[u.ID] = broadcaster{u.ID, u.Login, u.DisplayName}
	}
	for _, ss := range sids[from:n] {
		f.targets = append(f.targets, newTarget(f.st.h.URL, len(f.targets), ss.sid, byID[ss.streamerID]))
	}
	for _, t := range f.targets[from:] {
		if err := f.post(t, probePrefix+strconv.Itoa(t.idx)); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.mapped.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("probes reached %d of %d sockets", f.mapped.Load(), n)
		}
		time.Sleep(5 * time.Millisecond) // a counter, no channel to wait on; bounded above
	}
	return nil
}

// connect runs the real login flow in a new browser and opens its stream socket.
func (f *fleet) connect(ctx context.Context, user, streamer string) (*sock, error) {
	b := f.st.h.NewBrowser()
	b.Client.Transport = f.browse
	if err := b.Login(user); err != nil {
		return nil, err
	}
	if code, body, err := b.ChooseStreamer(streamer); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("choose streamer: %d %v %.200s", code, err, body)
	}
	as, err := b.Connect(ctx, "", 0)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &sock{conn: as.Conn}
	go f.read(s)
	return s, nil
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
		if n, err := strconv.Atoi(string(k)); err == nil && n < len(f.targets) && s.t.Load() == nil {
			s.t.Store(f.targets[n])
			f.mapped.Add(1)
		}
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
