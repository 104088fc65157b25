package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// twitchTimestamp is RFC 3339 with nine fraction digits, as Twitch (and the simulator) send it.
const twitchTimestamp = "2006-01-02T15:04:05.000000000Z07:00"

// signedRequest is a notification for t, posted to url, signed like Twitch with message id id.
func signedRequest(t *target, url, id string) *http.Request {
	ts := time.Now().UTC().Format(twitchTimestamp)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(t.body))
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set(eventsub.HeaderMessageID, id)
	h.Set(eventsub.HeaderMessageRetry, "0")
	h.Set(eventsub.HeaderMessageType, eventsub.MessageTypeNotification)
	h.Set(eventsub.HeaderMessageTimestamp, ts)
	h.Set(eventsub.HeaderMessageSignature, eventsub.Signature(t.secret, id, ts, t.body))
	h.Set(eventsub.HeaderSubscriptionType, eventsub.TypeChannelUpdate)
	h.Set(eventsub.HeaderSubscriptionVersion, "2")
	return req
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// recorder tracks one run: for message g (id prefix+g) its target streamer, send time (the
// scheduled time in open loop), HTTP answer, and its deliveries: one per socket watching
// that streamer (fanout), each with its latency.
type recorder struct {
	prefix   string
	fanout   []int          // sockets per streamer, fixed for the run
	target   []atomic.Int32 // streamer of message g
	inst     []atomic.Int32 // the relay instance message g was posted to
	sent     []atomic.Int64 // unix ns
	recv     []atomic.Uint32
	resp     []int64 // ns, send → answer; written by the sender only
	ok       []bool  // answered 204
	lats     []int64 // ns, send → frame, one per delivery (each index written once)
	nlat     atomic.Int64
	nextG    atomic.Int64
	errs     atomic.Int64
	statuses sync.Map      // status code → *atomic.Int64
	got      atomic.Int64  // deliveries
	misroute atomic.Int64  // frames on a socket watching another streamer
	crossed  atomic.Int64  // deliveries on a socket of another instance than the callback's
	notify   chan struct{} // if not nil, told of every delivery (benchmarks)
}

var runCounter atomic.Int64

func newRecorder(n int, fanout []int) *recorder {
	most := 1
	for _, f := range fanout {
		most = max(most, f)
	}
	return &recorder{prefix: fmt.Sprintf("relaybench-%d-%d-", time.Now().UnixNano()%1e9, runCounter.Add(1)),
		fanout: fanout, target: make([]atomic.Int32, n), inst: make([]atomic.Int32, n), sent: make([]atomic.Int64, n), recv: make([]atomic.Uint32, n),
		resp: make([]int64, n), ok: make([]bool, n), lats: make([]int64, min(n*most, 8_000_000))}
}

// received records a frame carrying message id on socket s.
func (r *recorder) received(id []byte, s *sock, now int64) {
	rest, ok := bytes.CutPrefix(id, []byte(r.prefix))
	if !ok {
		return
	}
	g, err := strconv.Atoi(string(rest))
	if err != nil || g >= len(r.recv) {
		return
	}
	if int32(s.k) != r.target[g].Load() {
		r.misroute.Add(1)
	}
	if int32(s.inst) != r.inst[g].Load() {
		r.crossed.Add(1)
	}
	r.recv[g].Add(1)
	if i := r.nlat.Add(1) - 1; i < int64(len(r.lats)) {
		r.lats[i] = now - r.sent[g].Load()
	}
	r.got.Add(1)
	if r.notify != nil {
		r.notify <- struct{}{}
	}
}

// send posts message g to t at url (of relay instance inst); at is the time latency is
// measured from.
func (r *recorder) send(c *http.Client, g int, t *target, url string, inst int, at int64) {
	r.target[g].Store(int32(t.idx))
	r.inst[g].Store(int32(inst))
	r.sent[g].Store(at)
	resp, err := c.Do(signedRequest(t, url, r.prefix+strconv.Itoa(g)))
	if err != nil {
		r.errs.Add(1)
		r.status(0)
		return
	}
	drain(resp)
	r.resp[g] = time.Now().UnixNano() - at
	if resp.StatusCode == http.StatusNoContent {
		r.ok[g] = true
		return
	}
	r.errs.Add(1)
	r.status(resp.StatusCode)
}

func (r *recorder) status(code int) {
	v, _ := r.statuses.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// plan is one load: targets, and urls the places to POST (the relay or the bare handler).
// Message g goes to targets[g mod T] at urls[g mod len(urls)]; len(urls) is T × instances,
// urls[j] being target j mod T at instance j / T, so the instances take turns per target.
type plan struct {
	targets []*target
	urls    []string
	rate    float64       // open loop: notifications/s; 0 = closed loop
	conns   int           // closed loop: connections; open loop: most requests in flight
	dur     time.Duration // send window
}

// run sends the plan's load and returns when every answer is in: n is the number of
// messages sent and elapsed the time from the first send to the last answer. Open loop
// messages are numbered from off; closed loop ones continue the recorder's count.
func (p plan) run(c *http.Client, r *recorder, off int) (n int, elapsed time.Duration) {
	t0 := time.Now().Add(20 * time.Millisecond)
	stop := t0.Add(p.dur)
	var wg sync.WaitGroup
	if p.rate > 0 {
		total := max(0, min(int(p.rate*p.dur.Seconds()), len(r.recv)-off))
		interval := float64(time.Second) / p.rate
		jobs := make(chan int, total)
		for g := range total {
			jobs <- off + g
		}
		close(jobs)
		for range p.conns {
			wg.Go(func() {
				for g := range jobs {
					at := t0.Add(time.Duration(float64(g-off) * interval))
					if d := time.Until(at); d > 0 {
						time.Sleep(d)
					}
					p.send(c, r, g, at.UnixNano())
				}
			})
		}
		wg.Wait()
		return total, max(p.dur, time.Since(t0)) // the arrival window, not the last answer
	}
	from := min(int(r.nextG.Load()), len(r.recv))
	time.Sleep(time.Until(t0))
	for range p.conns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				g := int(r.nextG.Add(1)) - 1
				if g >= len(r.recv) {
					return
				}
				p.send(c, r, g, time.Now().UnixNano())
			}
		})
	}
	wg.Wait()
	return min(int(r.nextG.Load()), len(r.recv)) - from, time.Since(t0)
}

func (p plan) send(c *http.Client, r *recorder, g int, at int64) {
	j := g % len(p.urls)
	r.send(c, g, p.targets[g%len(p.targets)], p.urls[j], j/len(p.targets), at)
}

// loadClient is the HTTP client for callbacks: conns keep-alive connections to the host.
func loadClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}}
}

// notificationBody is a channel.update notification of sub, shaped like the simulator's
// (docs/TWITCH.md §4.3): the subscription, then Twitch's event.
func notificationBody(sub eventsub.Subscription, streamer broadcaster) []byte {
	b, _ := json.Marshal(struct {
		Subscription eventsub.Subscription `json:"subscription"`
		Event        any                   `json:"event"`
	}{sub, channelUpdate{streamer, "Any% attempts — road to sub 30", "en", "509658", "Retro", []string{}}})
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
