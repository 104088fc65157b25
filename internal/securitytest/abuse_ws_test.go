package securitytest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
)

// dialFrom opens b's stream socket as if it came through the trusted proxy from addr ("" =
// straight from loopback) and, with hello, sends stream_connected.
func dialFrom(ctx context.Context, b *apptest.Browser, addr string, hello bool) (*websocket.Conn, error) {
	u, _ := url.Parse(b.URL)
	hdr := http.Header{"Origin": {b.URL}}
	for _, c := range b.Jar.Cookies(u) {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	if addr != "" {
		hdr.Set("X-Forwarded-For", addr)
	}
	c, resp, err := websocket.Dial(ctx, "ws://"+b.Addr+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil || !hello {
		return c, err
	}
	m, _ := json.Marshal(map[string]any{"type": "stream_connected", "epoch": "", "last_seq": 0})
	return c, c.Write(ctx, websocket.MessageText, m)
}

// firstOf reads c's first message: 0 when it is a frame (the socket was accepted: its
// welcome), else the close code and reason.
func firstOf(ctx context.Context, c *websocket.Conn) (websocket.StatusCode, string) {
	if _, _, err := c.Read(ctx); err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return -1, err.Error()
	}
	return 0, ""
}

// closeOf reads c until it closes and returns the close code and reason.
func closeOf(ctx context.Context, c *websocket.Conn) (websocket.StatusCode, string) {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

// TestSocketsPerSessionAndAddressAreCapped: one login opens sockets in a loop (400 dials, from
// one forwarded address); only WS_MAX_PER_SESSION stay open, the rest are closed 4429 "too many
// tabs open". Another login from the same address fills WS_MAX_PER_IP. A third person at
// another address is unaffected: its socket opens and gets the event published meanwhile.
func TestSocketsPerSessionAndAddressAreCapped(t *testing.T) {
	const perSession, perIP, attacker = 4, 6, "203.0.113.7"
	h := apptest.Start(t, apptest.Options{Env: map[string]string{
		"TRUSTED_PROXIES": "127.0.0.1/32", "WS_MAX_PER_SESSION": "4", "WS_MAX_PER_IP": "6"}})
	goodB, good, sid := watcher(t, h, "quietquinn", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, "channel.update")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second) // a bound, not a pace: -race on a busy machine
	defer cancel()

	evil := h.NewBrowser()
	if err := evil.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	if status, _, err := evil.ChooseStreamer("cozycrafter"); err != nil || status != http.StatusOK {
		t.Fatalf("choose: %d %v", status, err)
	}
	goroutines := runtime.NumGoroutine()
	start := time.Now()
	var open []*websocket.Conn
	refused := 0
	for i := range 400 {
		c, err := dialFrom(ctx, evil, attacker, true)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		switch code, reason := firstOf(ctx, c); {
		case code == 0: // accepted: its welcome arrived
			open = append(open, c)
			t.Cleanup(func() { c.CloseNow() })
		case code == 4429 && reason == "too many tabs open":
			c.CloseNow()
			refused++
		default:
			t.Fatalf("socket %d of one session: closed %d %q, want 4429 \"too many tabs open\" or open", i+1, code, reason)
		}
		if len(open) > perSession {
			t.Fatalf("one session holds %d open sockets, above the cap %d", len(open), perSession)
		}
	}
	if len(open) != perSession {
		t.Fatalf("one session got %d sockets open, want the cap %d", len(open), perSession)
	}
	t.Logf("observed: 400 dials of one session in %v: %d open, %d closed 4429; goroutines %d → %d",
		time.Since(start).Round(time.Millisecond), len(open), refused, goroutines, runtime.NumGoroutine())
	if st := h.App.Hub.Stats(); st.Subscribers > perSession+1 {
		t.Errorf("hub has %d subscribers, want at most %d (the cap) + 1 (the good socket)", st.Subscribers, perSession+1)
	}

	// A second login at the same address: the address has perIP-perSession places left.
	evil2 := h.NewBrowser()
	if err := evil2.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	if status, _, err := evil2.ChooseStreamer("cozycrafter"); err != nil || status != http.StatusOK {
		t.Fatalf("choose: %d %v", status, err)
	}
	opened2, refused2 := 0, 0
	for range perIP - perSession + 3 {
		c, err := dialFrom(ctx, evil2, attacker, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		switch code, reason := firstOf(ctx, c); {
		case code == 0:
			opened2++
		case code == 4429 && reason == "too many tabs open":
			refused2++
		default:
			t.Fatalf("socket of the address: closed %d %q, want 4429 or open", code, reason)
		}
	}
	// The address holds at most perIP: what the first login keeps open plus the second's.
	if opened2 > perIP-perSession || refused2 < 3 {
		t.Fatalf("a second login at the address opened %d and was refused %d; the address may hold %d, the first login holds %d (hub: %+v)",
			opened2, refused2, perIP, perSession, h.App.Hub.Stats())
	}

	// Meanwhile, the person at 127.0.0.1 opens another tab and gets what Twitch sends.
	tab, err := dialFrom(ctx, goodB, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.CloseNow()
	if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "during-sockets", Body: updateBody(sub, "still here")})); a.Status != http.StatusNoContent {
		t.Fatalf("callback: %d", a.Status)
	}
	expectTitle(t, good, "still here")
	if !receivesTitle(ctx, tab, "still here") {
		t.Error("the good user's second tab did not get the event")
	}

	// A closed tab frees its place: the session may open one again.
	open[0].Close(websocket.StatusNormalClosure, "tab closed")
	apptest.Wait(t, waitFor, "the place freed", func() bool {
		c, err := dialFrom(ctx, evil, attacker, true)
		if err != nil {
			return false
		}
		defer c.CloseNow()
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		_, b, err := c.Read(rctx) // welcome, or the close
		return err == nil && len(b) > 0
	})
}

// receivesTitle reads c until the channel.update titled title arrives.
func receivesTitle(ctx context.Context, c *websocket.Conn, title string) bool {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return false
		}
		frames, _ := client.DecodeMessage(b) // a frame, or a batch of them
		for _, f := range frames {
			if f.Event != nil && f.Event.Title == title {
				return true
			}
		}
	}
}

// TestSocketWithoutHelloGets1008: a socket that never says stream_connected is closed with
// the documented 1008 (a close frame, not a dropped connection: the client saw 1006), after
// the hello timeout; the session's socket that did say it is not disturbed.
func TestSocketWithoutHelloGets1008(t *testing.T) {
	const hello = 300 * time.Millisecond
	h := apptest.Start(t, apptest.Options{App: app.Options{HelloTimeout: hello}})
	b, good, sid := watcher(t, h, "quietquinn", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, "channel.update")
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	start := time.Now()
	c, err := dialFrom(ctx, b, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	code, reason := closeOf(ctx, c)
	took := time.Since(start)
	t.Logf("observed: silent socket closed %d %q after %v", code, reason, took.Round(time.Millisecond))
	if code != websocket.StatusPolicyViolation {
		t.Fatalf("silent socket: closed %d %q, want 1008", code, reason)
	}
	if took < hello {
		t.Errorf("closed after %v, before the %v hello timeout", took, hello)
	}
	if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "after-silent", Body: updateBody(sub, "unaffected")})); a.Status != http.StatusNoContent {
		t.Fatalf("callback: %d", a.Status)
	}
	expectTitle(t, good, "unaffected")
}
