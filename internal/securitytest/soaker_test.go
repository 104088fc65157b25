package securitytest

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// feed is one streamer's events: the subscription its sessions share and what was accepted.
type feed struct {
	login    string
	sub      eventsub.Subscription
	callback string

	mu   sync.Mutex
	want map[string][]string // source → message ids in the order they were accepted
	ids  map[string]bool
}

// expect records an accepted event; false for Twitch's duplicate of one already recorded.
func (f *feed) expect(source, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.want == nil {
		f.want, f.ids = map[string][]string{}, map[string]bool{}
	}
	if f.ids[id] {
		return false
	}
	f.ids[id] = true
	f.want[source] = append(f.want[source], id)
	return true
}

func (f *feed) snapshot() (map[string][]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out, n := map[string][]string{}, 0
	for k, v := range f.want {
		out[k] = slices.Clone(v)
		n += len(v)
	}
	return out, n
}

// soaker is one soak session: its browser, its current socket, what it got.
type soaker struct {
	b    *apptest.Browser
	feed *feed

	mu      sync.Mutex
	s       *apptest.Socket
	got     []string // message ids in the order they arrived
	seen    map[string]bool
	drops   int
	closed  bool
	readErr error
}

// read reads events until close, dropping the connection now and then (about one event in
// 40) and resuming from the last sequence, as the page does after a network blip.
func (x *soaker) read(rnd *rand.Rand) {
	for {
		x.mu.Lock()
		s, closed := x.s, x.closed
		x.mu.Unlock()
		if closed {
			return
		}
		f, err := s.NextEvent(context.Background())
		x.mu.Lock()
		if err != nil {
			if x.closed {
				x.mu.Unlock()
				return
			}
			if strings.Contains(err.Error(), "duplicate or out of order") {
				x.readErr = err
				x.mu.Unlock()
				return
			}
			// Dropped (by us or the server, e.g. 4000): resume.
			x.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			s2, err := x.b.Connect(ctx, s.Epoch, s.LastSeq)
			cancel()
			x.mu.Lock()
			if x.closed { // the test ended while we reconnected
				x.mu.Unlock()
				if s2 != nil {
					s2.Close()
				}
				return
			}
			if err != nil {
				x.readErr = err
				x.mu.Unlock()
				return
			}
			x.s = s2
			x.mu.Unlock()
			continue
		}
		if x.seen[f.Event.ID] {
			x.readErr = errDuplicate(f.Event.ID)
		}
		x.seen[f.Event.ID] = true
		x.got = append(x.got, f.Event.ID)
		if rnd.IntN(40) == 0 {
			x.drops++
			s.Conn.CloseNow()
		}
		x.mu.Unlock()
	}
}

type errDuplicate string

func (e errDuplicate) Error() string { return "event " + string(e) + " arrived twice" }

func (x *soaker) waitAll(t testing.TB) {
	t.Helper()
	_, want := x.feed.snapshot()
	apptest.Wait(t, 30*time.Second, "a "+x.feed.login+" session to receive all its events", func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.readErr != nil {
			t.Fatalf("%s session: %v", x.feed.login, x.readErr)
		}
		return len(x.got) >= want
	})
}

// check compares what arrived with what was accepted: the same events, once each, and each
// source's events in the order they were accepted.
func (x *soaker) check(t testing.TB) {
	wantBy, want := x.feed.snapshot()
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.got) != want || x.readErr != nil {
		t.Errorf("%s session: got %d events, want %d (%v)", x.feed.login, len(x.got), want, x.readErr)
		return
	}
	for source, ids := range wantBy {
		var order []string
		for _, id := range x.got {
			if strings.HasPrefix(id, "direct-") == (source == "direct") {
				order = append(order, id)
			}
		}
		if !slices.Equal(order, ids) {
			t.Errorf("%s session: %s events arrived as %.200v, want %.200v", x.feed.login, source, order, ids)
		}
	}
}

func (x *soaker) close() {
	x.mu.Lock()
	x.closed = true
	s := x.s
	x.mu.Unlock()
	s.Close()
}
