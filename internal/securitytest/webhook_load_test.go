package securitytest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// TestWebhookSlowBody is a slowloris on the callback: headers of a valid-looking signed POST,
// then the body one byte every 500 ms, never finished. The server must not wait forever: the
// callback route cuts the body off after its 10 s read deadline (the server-wide ReadTimeout is
// 30 s) and answers 4xx, and other callbacks are served meanwhile.
func TestWebhookSlowBody(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{})
	sid := "0123456789abcdef0123456789abcdef"
	req := signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "slow-1", Body: []byte(`{"subscription":{}}`)})
	conn, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "POST /callback/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 4096\r\n", sid, h.Addr)
	for k, v := range req.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v[0])
	}
	head.WriteString("\r\n")
	start := time.Now()
	if _, err := conn.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			line = "connection closed without an answer: " + err.Error()
		}
		answered <- strings.TrimSpace(line)
	}()
	trickle := time.NewTicker(500 * time.Millisecond)
	defer trickle.Stop()
	deadline := time.After(40 * time.Second)
	for {
		select {
		case line := <-answered:
			took := time.Since(start)
			t.Logf("observed: %q after %v", line, took.Round(100*time.Millisecond))
			if !strings.HasPrefix(line, "HTTP/1.1 4") {
				t.Errorf("slow body answered %q, want a 4xx", line)
			}
			if took > 15*time.Second {
				t.Errorf("slow body held the connection %v", took)
			}
			return
		case <-trickle.C:
			conn.Write([]byte("{")) // the attacker keeps the connection busy
			if time.Since(start) > 2*time.Second && time.Since(start) < 2600*time.Millisecond {
				if a := do(t, signedRequest(callbackURL(h, sid), "bad", msg{ID: "during", Body: []byte("{}")})); a.Status != http.StatusForbidden {
					t.Errorf("a request during the slowloris: %d", a.Status)
				}
			}
		case <-deadline:
			t.Fatal("the server never answered a slow body within 40 s (no read deadline?)")
		}
	}
}

// TestWebhookFloodDoesNotStarveGoodRequests measures genuine callbacks' latency alone and
// during a flood of 5,000 forged POSTs from 8 goroutines; every genuine one must be accepted
// and delivered to the browser once, in order. While the flood takes the CPU the reading tab
// may fall further behind than the server buffers for a socket, which the server then closes
// with 4000 by design: it resumes as the page does, and a lost, repeated or reordered event
// fails the test.
func TestWebhookFloodDoesNotStarveGoodRequests(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	url, secret := callbackURL(h, sid), secretOf(sid)
	got := readEvents(t, s.ResumeOnClose(apptest.MaxResumes)) // the browser keeps reading, as a page does
	var sent atomic.Int64
	good := func() time.Duration {
		n := sent.Add(1)
		start := time.Now()
		a := do(t, signedRequest(url, secret, msg{ID: fmt.Sprint("good-", n), Body: updateBody(sub, fmt.Sprint("good ", n))}))
		if a.Status != http.StatusNoContent {
			t.Errorf("good request %d: %d, want 204", n, a.Status)
		}
		return time.Since(start)
	}
	var quiet []time.Duration
	for range 200 {
		quiet = append(quiet, good())
	}

	const flood, workers = 5000, 8
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	fc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= flood; i = next.Add(1) {
				target := url
				if w%2 == 1 {
					target = h.URL + fmt.Sprintf("/callback/%032x", i)
				}
				resp, err := fc.Do(signedRequest(target, "forged", msg{ID: fmt.Sprint("flood-", i), Body: updateBody(sub, "forged")}))
				if err != nil {
					t.Errorf("flood request: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusForbidden {
					refused.Add(1)
				}
			}
		})
	}
	floodDone := make(chan struct{})
	go func() { wg.Wait(); close(floodDone) }()
	var loaded []time.Duration
	floodStart := time.Now()
loop:
	for {
		select {
		case <-floodDone:
			break loop
		default:
			loaded = append(loaded, good())
		}
	}
	floodTook := time.Since(floodStart)
	if refused.Load() != flood {
		t.Errorf("%d of %d forged requests refused with 403", refused.Load(), flood)
	}
	if len(loaded) < 20 {
		t.Fatalf("only %d good requests overlapped the flood: not a measurement", len(loaded))
	}
	total := int(sent.Load())
	for i, f := range got.wait(t, total) {
		if id, title := fmt.Sprint("good-", i+1), fmt.Sprint("good ", i+1); f.Event.ID != id || f.Event.Title != title {
			t.Fatalf("event %d is %s %q, want %s %q", i+1, f.Event.ID, f.Event.Title, id, title)
		}
	}
	q50, q99 := percentiles(quiet)
	l50, l99 := percentiles(loaded)
	t.Logf("observed: good callbacks alone p50 %v p99 %v (n=%d); during %d forged POSTs in %v (%.0f/s): p50 %v p99 %v (n=%d); all %d delivered once, in order (%d socket resumes)",
		q50, q99, len(quiet), flood, floodTook.Round(time.Millisecond), float64(flood)/floodTook.Seconds(), l50, l99, len(loaded), total, s.Resumes())
	if l99 > 2*time.Second {
		t.Errorf("good callbacks' p99 under flood is %v (alone %v)", l99, q99)
	}
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(10 * time.Microsecond), s[(len(s)*99)/100].Round(10 * time.Microsecond)
}

// events is what a reading browser tab received: its event frames, in order.
type events struct {
	mu     sync.Mutex
	frames []apptest.Frame
	err    error
}

// readEvents reads s in the background until the test ends (the Socket itself fails on a
// missing, repeated or out-of-order event when it resumes).
func readEvents(t testing.TB, s *apptest.Socket) *events {
	e := &events{}
	ctx := t.Context()
	go func() {
		for {
			f, err := s.NextEvent(ctx)
			e.mu.Lock()
			if err != nil {
				e.err = err
				e.mu.Unlock()
				return
			}
			e.frames = append(e.frames, f)
			e.mu.Unlock()
		}
	}()
	return e
}

// wait waits until n events arrived and returns them; fewer, more, or a socket error fail.
func (e *events) wait(t testing.TB, n int) []apptest.Frame {
	t.Helper()
	apptest.Wait(t, 30*time.Second, fmt.Sprintf("%d events on the socket", n), func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.err != nil {
			t.Fatalf("socket failed after %d events: %v", len(e.frames), e.err)
		}
		return len(e.frames) >= n
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.frames) != n {
		t.Fatalf("%d events arrived, want %d", len(e.frames), n)
	}
	return slices.Clone(e.frames)
}
