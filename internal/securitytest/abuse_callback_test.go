package securitytest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// announcingConn opens a connection that sends the headers of a well-formed callback (fresh
// timestamp, sha256=<64 hex>) announcing a 64 KiB body, and then sends nothing.
func announcingConn(t testing.TB, h *apptest.Harness, sid string, n int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := signedRequest(callbackURL(h, sid), "guessed", msg{ID: fmt.Sprintf("announce-%d", n), Body: []byte("{}")})
	var head strings.Builder
	fmt.Fprintf(&head, "POST /callback/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 65536\r\n", sid, h.Addr)
	for k, v := range req.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v[0])
	}
	head.WriteString("\r\n")
	if _, err := conn.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	return conn
}

// statusLine reads the first line of an answer on conn, waiting at most d.
func statusLine(conn net.Conn, d time.Duration) (string, http.Header) {
	conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer: " + err.Error(), nil
	}
	resp.Body.Close()
	return resp.Status, resp.Header
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestCallbackAnnouncedBodyCostsNothing: forged callbacks that announce Content-Length: 65536
// and send nothing. Nothing may be allocated in proportion to what they announce, the number
// of bodies read at once is bounded (CALLBACK_MAX_READS, default 256: the rest are answered
// 503 + Retry-After at once, unread), and a genuine callback is served while the reads are
// under the bound, and accepted again once the flood is gone.
func TestCallbackAnnouncedBodyCostsNothing(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "quietquinn", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, "channel.update")
	genuine := func(title string) answer {
		return do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "genuine-" + title, Body: updateBody(sub, title)}))
	}
	const silent = 200 // below the bound
	var conns []net.Conn
	before := heapAlloc()
	for i := range silent {
		conns = append(conns, announcingConn(t, h, sid, i))
	}
	apptest.Wait(t, waitFor, "every announced body being read", func() bool { return h.App.Web.CallbackBodiesReading() == silent })
	after := heapAlloc()
	perConn := (int64(after) - int64(before)) / silent
	t.Logf("observed: %d connections announcing 64 KiB each: heap %.1f → %.1f MiB (%+d bytes per connection)",
		silent, float64(before)/(1<<20), float64(after)/(1<<20), perConn)
	if perConn > 40<<10 {
		t.Errorf("each connection that announced 64 KiB and sent nothing costs %d bytes of heap, want under 40 KiB (the connection itself, not the 64 KiB it announced)", perConn)
	}
	if a := genuine("during the flood"); a.Status != http.StatusNoContent {
		t.Errorf("genuine callback during the flood: %d %q, want 204", a.Status, a.Body)
	}
	expectTitle(t, s, "during the flood")

	// Over the bound: the rest of the slots fill, and what comes after them is refused unread.
	for i := silent; i < config.DefaultCallbackReads; i++ {
		conns = append(conns, announcingConn(t, h, sid, i))
	}
	apptest.Wait(t, waitFor, "every slot taken", func() bool { return h.App.Web.CallbackBodiesReading() == config.DefaultCallbackReads })
	const over = 100
	start := time.Now()
	refused := 0
	for i := range over {
		conn := announcingConn(t, h, sid, config.DefaultCallbackReads+i)
		status, hdr := statusLine(conn, 2*time.Second)
		if strings.HasPrefix(status, "503") && hdr.Get("Retry-After") != "" {
			refused++
		} else {
			t.Fatalf("connection %d over the bound: %q (Retry-After %q), want 503 with Retry-After", i, status, hdr.Get("Retry-After"))
		}
	}
	t.Logf("observed: %d of %d over the bound of %d refused 503 + Retry-After in %v; bodies being read %d",
		refused, over, config.DefaultCallbackReads, time.Since(start).Round(time.Millisecond), h.App.Web.CallbackBodiesReading())
	if got := h.App.Web.CallbackBodiesReading(); got > config.DefaultCallbackReads {
		t.Errorf("%d bodies being read, bound %d", got, config.DefaultCallbackReads)
	}
	// Twitch gets the same answer while the slots are full, and retries.
	if a := genuine("while full"); a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
		t.Errorf("genuine callback while every slot is taken: %d (Retry-After %q), want 503 with Retry-After", a.Status, a.Header.Get("Retry-After"))
	}
	// The attacker goes away (or the 10 s read deadline cuts it off): the slots free up.
	for _, c := range conns {
		c.Close()
	}
	apptest.Wait(t, waitFor, "the slots freed", func() bool { return h.App.Web.CallbackBodiesReading() == 0 })
	if a := genuine("after the flood"); a.Status != http.StatusNoContent {
		t.Errorf("genuine callback after the flood: %d %q, want 204", a.Status, a.Body)
	}
	expectTitle(t, s, "after the flood")
}
