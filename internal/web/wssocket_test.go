package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/hub"
)

// TestStalledBrowserIsDropped: a real client that stops reading fills the socket buffers
// until one write blocks; once it has been blocked for the write timeout (the stall rule), the
// hub drops the subscriber as slow and the socket is closed under the write. The client, when
// it reads again, gets what was sent and then a dropped connection (no close frame could reach
// it while it did not read), on which the page resumes.
func TestStalledBrowserIsDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, cc := socketPair(t, ctx)
	cc.SetReadLimit(-1)

	h := hub.New(hub.Config{HistorySize: 1, HistoryAge: time.Minute})
	defer h.Close()
	sub, err := h.Subscribe("s", hub.Resume{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const timeout = 300 * time.Millisecond
	w := &wsSocket{s: &Server{obs: nopObserver{}}, c: c, sub: sub, writeTimeout: timeout}
	w.stuck = time.AfterFunc(w.writeTimeout, w.stall)
	w.stuck.Stop()
	defer w.stuck.Stop()

	frame := []byte(`{"type":"event_updated","event":"` + strings.Repeat("x", 64<<10) + `"}`)
	var last time.Time
	sent := 0
	for ; sent < 4000; sent++ { // 256 MiB: far beyond any socket buffer
		last = time.Now()
		if err = w.send(frame); err != nil {
			break
		}
		if sub.Err() != nil {
			t.Fatalf("dropped after %d writes, before a write failed: %v", sent, sub.Err())
		}
	}
	blocked := time.Since(last)
	if err == nil {
		t.Fatalf("%d writes of 64 KiB to a client that reads nothing all succeeded", sent)
	}
	if blocked < timeout {
		t.Fatalf("the stuck write failed after %v, before the %v stall timeout", blocked, timeout)
	}
	if !errors.Is(sub.Err(), hub.ErrSlow) || h.Stats().Slow != 1 {
		t.Fatalf("after a write blocked %v: subscriber %v, Stats.Slow %d; want dropped as slow once", blocked, sub.Err(), h.Stats().Slow)
	}
	read := 0
	for {
		if _, _, err = cc.Read(ctx); err != nil {
			break
		}
		read++
	}
	if read > sent || websocket.CloseStatus(err) != -1 || ctx.Err() != nil {
		t.Fatalf("the client read %d of %d frames, then %v; want at most all, then a dropped connection", read, sent, err)
	}
	t.Logf("observed: %d writes of 64 KiB went out, the next blocked %v and was ended; the client read %d, then %v", sent, blocked.Round(time.Millisecond), read, err)
}

// TestPingWithoutPong: a ping that gets no pong within the write timeout ends an idle socket
// (a dead peer), but not one whose frames kept going out meanwhile (its pong queues behind
// them).
func TestPingWithoutPong(t *testing.T) {
	for _, busy := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		c, cc := socketPair(t, ctx)
		c.CloseRead(ctx) // the server's reader: pongs would arrive through it
		w := &wsSocket{c: c, writeTimeout: 200 * time.Millisecond, ping: time.NewTimer(time.Hour)}
		before := w.wrote.Load()
		if busy {
			w.wrote.Add(1) // a frame written while the pong was awaited
		}
		w.writers.Add(1)
		w.pingOnce(before)
		err := c.Write(ctx, websocket.MessageText, []byte(`{}`))
		if busy && err != nil || !busy && err == nil {
			t.Errorf("busy %v: a write after a ping without pong: %v", busy, err)
		}
		w.ping.Stop()
		cc.CloseNow()
		c.CloseNow()
		cancel()
	}
}

// socketPair is a WebSocket over loopback: the server's end c and the client's end cc, both
// closed when tb ends.
func socketPair(tb testing.TB, ctx context.Context) (c, cc *websocket.Conn) {
	tb.Helper()
	conns := make(chan *websocket.Conn, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		conns <- c
		<-done
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(done) })
	cc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.CloseNow() })
	c = <-conns
	tb.Cleanup(func() { c.CloseNow() })
	return c, cc
}
