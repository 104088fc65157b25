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

// soaker is one soak session: its browser's socket, resuming as the page does, and what it
// got. The socket fails on a missing, repeated or out-of-order event.
type soaker struct {
	s    *apptest.Socket
	feed *feed

	mu      sync.Mutex
	got     []string // message ids in the order they arrived
	drops   int
	closed  bool
	readErr error
}

// read reads events until close, dropping the connection now and then (about one event in
// 40): the socket resumes from the last sequence, as the page does after a network blip.
func (x *soaker) read(ctx context.Context, rnd *rand.Rand) {
	for {
		f, err := x.s.NextEvent(ctx)
		x.mu.Lock()
		if err != nil {
			if !x.closed {
				x.readErr = err
			}
			x.mu.Unlock()
			return
		}
		x.got = append(x.got, f.Event.ID)
		if rnd.IntN(40) == 0 {
			x.drops++
			x.s.Conn.CloseNow() // read's own goroutine: the socket's current connection
		}
		x.mu.Unlock()
	}
}

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
	x.mu.Unlock()
	x.s.Close()
}
