package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/balancer"
	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const waitBound = 20 * time.Second // every wait of these tests

// instance is one relay instance's hub and broker.
type instance struct {
	hub        *hub.Hub
	broker     *Broker
	client     *redis.Client
	subscribed chan struct{} // a value per confirmed subscription
	rebuilt    chan struct{} // a value per rebuild
}

// newInstance starts a hub with a broker on its own Redis client (named, so a test can find
// and kill its connections) at addr, keys under prefix; stopped when the test ends.
func newInstance(t testing.TB, addr, prefix string, probe time.Duration) *instance {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opt.Addr = addr
	}
	opt.ClientName = "brokertest-" + newEpoch()
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	in := &instance{client: c, subscribed: make(chan struct{}, 64), rebuilt: make(chan struct{}, 64)}
	in.broker = New(Config{
		Redis: c, Keys: store.NewKeys(prefix), HistorySize: 100, HistoryAge: time.Hour, MessageTTL: time.Minute,
		ProbeInterval: probe, ProbeTimeout: 3 * probe,
		OnRebuild: func(error) {
			select {
			case in.rebuilt <- struct{}{}:
			default:
			}
		},
		OnSubscribed: func() {
			select {
			case in.subscribed <- struct{}{}:
			default:
			}
		},
	})
	in.hub = hub.New(hub.Config{HistorySize: 100, HistoryAge: time.Hour, Broker: in.broker})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.broker.Run(ctx, in.hub) }()
	t.Cleanup(func() {
		cancel()
		<-done
		in.hub.Close()
		c.Close()
	})
	in.waitSubscribed(t)
	return in
}

func (in *instance) waitSubscribed(t testing.TB) {
	t.Helper()
	select {
	case <-in.subscribed:
	case <-time.After(waitBound):
		t.Fatal("broker never subscribed")
	}
}

// subscribe opens a socket's subscription to sid on in, closed when the test ends.
func (in *instance) subscribe(t *testing.T, sid string, r hub.Resume) *hub.Subscriber {
	t.Helper()
	sub, err := in.hub.Subscribe(sid, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// deliver delivers events from..to to sid through in's hub.
func (in *instance) deliver(t *testing.T, sid string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := in.hub.Deliver([]string{sid}, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// expectEvents reads events from..to, in order, never a history_gap.
func expectEvents(t *testing.T, sub *hub.Subscriber, pending *[]hub.Frame, from, to int) {
	t.Helper()
	for want := from; want <= to; want++ {
		f := next(t, sub, pending)
		if f.Type == "history_gap" {
			t.Fatalf("history_gap %+v", f)
		}
		if got := eventN(t, f); got != want {
			t.Fatalf("event %d, want %d", got, want)
		}
	}
}

type frame struct {
	Type      string          `json:"type"`
	Seq       uint64          `json:"seq"`
	Epoch     string          `json:"epoch"`
	AfterSeq  uint64          `json:"after_seq"`
	FirstSeq  uint64          `json:"first_available_seq"`
	Event     json.RawMessage `json:"event"`
	StateFeed json.RawMessage `json:"feeds"`
}

// next returns the subscriber's next frame, failing after waitBound.
func next(t *testing.T, sub *hub.Subscriber, pending *[]hub.Frame) frame {
	t.Helper()
	deadline := time.After(waitBound)
	for len(*pending) == 0 {
		select {
		case <-sub.Ready():
			*pending = sub.Take(*pending)
		case <-sub.Done():
			*pending = sub.Take(*pending)
			if len(*pending) == 0 {
				t.Fatalf("subscriber dropped: %v", sub.Err())
			}
		case <-deadline:
			t.Fatal("no frame within the bound")
		}
	}
	var f frame
	if err := json.Unmarshal((*pending)[0].Data, &f); err != nil {
		t.Fatal(err)
	}
	*pending = (*pending)[1:]
	return f
}

func msg(n int) hub.Message {
	return hub.Message{Type: "event_updated", Event: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), Valid: true, Time: time.Now()}
}

func eventN(t *testing.T, f frame) int {
	t.Helper()
	var v struct{ N int }
	if f.Type != "event_updated" || json.Unmarshal(f.Event, &v) != nil {
		t.Fatalf("frame %+v is not an event", f)
	}
	return v.N
}

// TestEventReachesSocketOnAnotherInstance: published on A, delivered by B's hub, numbered
// once for the session in one epoch shared by both.
func TestEventReachesSocketOnAnotherInstance(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	b := newInstance(t, "", prefix, 200*time.Millisecond)

	sub := b.subscribe(t, "s1", hub.Resume{})
	a.deliver(t, "s1", 1, 5)
	var pending []hub.Frame
	var epoch string
	for i := 1; i <= 5; i++ {
		f := next(t, sub, &pending)
		if got := eventN(t, f); got != i || f.Seq != uint64(i) {
			t.Fatalf("frame %d: event %d seq %d, want event %d seq %d", i, got, f.Seq, i, i)
		}
		if epoch == "" {
			epoch = f.Epoch
		} else if f.Epoch != epoch {
			t.Fatalf("epoch changed from %s to %s mid-stream", epoch, f.Epoch)
		}
	}
	if sub.Epoch() != epoch {
		t.Fatalf("subscriber epoch %s, frames in %s", sub.Epoch(), epoch)
	}
}

// TestResumeOnAnotherInstance: a page that saw seq 3 on A and reconnects to C, which never
// held the session, gets exactly 4 and 5, then live events.
func TestResumeOnAnotherInstance(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	c := newInstance(t, "", prefix, 200*time.Millisecond)

	subA := a.subscribe(t, "s1", hub.Resume{})
	a.deliver(t, "s1", 1, 5)
	var pending []hub.Frame
	var f frame
	for range 3 {
		f = next(t, subA, &pending)
	}
	subA.Close()

	subC := c.subscribe(t, "s1", hub.Resume{Epoch: f.Epoch, AfterSeq: f.Seq})
	if err := c.hub.Deliver([]string{"s1"}, msg(6)); err != nil {
		t.Fatal(err)
	}
	pending = nil
	for want := 4; want <= 6; want++ {
		g := next(t, subC, &pending)
		if g.Type == "history_gap" {
			t.Fatalf("history_gap %+v on a resume the stream can serve", g)
		}
		if n := eventN(t, g); n != want || g.Seq != uint64(want) || g.Epoch != f.Epoch {
			t.Fatalf("got event %d seq %d epoch %s, want %d in %s", n, g.Seq, g.Epoch, want, f.Epoch)
		}
	}
}

// TestSameMessageAppendedOnce: a webhook answered 5xx after its append (the reply was lost)
// is retried by Twitch with the same message id; it is stored once.
func TestSameMessageAppendedOnce(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	m := msg(1)
	m.ID = "s1:msg-1"
	first, err := a.broker.Publish([]string{"s1", "s2"}, m, m.Event)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.broker.Publish([]string{"s1", "s2"}, m, m.Event)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(first) != "[1 1]" || fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("seqs %v then %v, want [1 1] twice", first, again)
	}
	n, err := a.client.XLen(context.Background(), store.NewKeys(prefix).Broker().Log("s1")).Result()
	if err != nil || n != 1 {
		t.Fatalf("stream holds %d entries (%v), want 1", n, err)
	}
}

// TestStateAndReleaseReachEveryInstance: a feed status sent on A reaches B's socket and a
// later socket on B; a release on A ends B's socket.
func TestStateAndReleaseReachEveryInstance(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	b := newInstance(t, "", prefix, 200*time.Millisecond)
	sub := b.subscribe(t, "s1", hub.Resume{})
	a.hub.SendState("s1", []byte(`{"type":"feed_status","feeds":[1]}`))
	var pending []hub.Frame
	if f := next(t, sub, &pending); f.Type != "feed_status" {
		t.Fatalf("frame %+v, want the state", f)
	}
	late := b.subscribe(t, "s1", hub.Resume{})
	var lp []hub.Frame
	if f := next(t, late, &lp); f.Type != "feed_status" {
		t.Fatalf("a later socket's first frame %+v, want the state", f)
	}
	a.hub.Release("s1")
	select {
	case <-sub.Done():
		if sub.Err() != hub.ErrReleased {
			t.Fatalf("dropped with %v, want ErrReleased", sub.Err())
		}
	case <-time.After(waitBound):
		t.Fatal("release on A did not reach B's socket")
	}
}

// TestKilledSubscriptionLosesNothing: B's Pub/Sub connection killed with CLIENT KILL while A
// publishes; B rebuilds it and its socket gets every event once, in order.
func TestKilledSubscriptionLosesNothing(t *testing.T) {
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	b := newInstance(t, "", prefix, 200*time.Millisecond)
	sub := b.subscribe(t, "s1", hub.Resume{})
	const n = 40
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= n; i++ {
			if err := a.hub.Deliver([]string{"s1"}, msg(i)); err != nil {
				t.Error(err)
				return
			}
			if i == n/4 {
				killPubSub(t, rc, b)
			}
		}
	})
	var pending []hub.Frame
	expectEvents(t, sub, &pending, 1, n)
	wg.Wait()
	if b.broker.Rebuilds() == 0 {
		t.Fatal("the killed subscription was never rebuilt")
	}
}

// killPubSub kills in's Pub/Sub connection (its client name, in subscribe mode) and only it.
func killPubSub(t *testing.T, rc redis.UniversalClient, in *instance) {
	t.Helper()
	ctx := context.Background()
	list, err := rc.ClientList(ctx).Result()
	if err != nil {
		t.Error(err)
		return
	}
	name := "name=" + in.client.Options().ClientName + " "
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, name) || !strings.Contains(line, "cmd=subscribe") && !strings.Contains(line, "sub=1") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := rc.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Error(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Errorf("no Pub/Sub connection of %s found to kill", in.client.Options().ClientName)
	}
}

// TestSilentSubscriptionIsRebuilt: B's Pub/Sub connection goes silent (a frozen network, no
// error); the probe notices, readiness says so, the subscription is rebuilt and every event
// published meanwhile reaches B's socket.
func TestSilentSubscriptionIsRebuilt(t *testing.T) {
	rc := redistest.Client(t)
	prefix := redistest.Prefix(t, rc)
	opt, _ := redis.ParseURL(redistest.URL(t))
	lb, err := balancer.New(opt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	a := newInstance(t, "", prefix, 100*time.Millisecond)
	b := newInstance(t, lb.Addr(), prefix, 100*time.Millisecond)
	sub := b.subscribe(t, "s1", hub.Resume{})
	lb.Freeze()
	a.deliver(t, "s1", 1, 5)
	// Silent: not ready, then (the frozen connection dropped, as a balancer would on a
	// rebuild) a new subscription reads the five back.
	select {
	case <-b.rebuilt:
	case <-time.After(waitBound):
		t.Fatal("a silent subscription was never rebuilt")
	}
	if b.broker.Check(context.Background()) == nil {
		t.Fatal("readiness ok while the subscription is being rebuilt")
	}
	lb.DropAll()
	lb.Thaw()
	b.waitSubscribed(t)
	var pending []hub.Frame
	expectEvents(t, sub, &pending, 1, 5)
	if b.broker.Check(context.Background()) != nil {
		t.Fatalf("not ready after the rebuild: %v", b.broker.Check(context.Background()))
	}
}

// TestRedisDownRefusesDelivery: with Redis unreachable, Deliver fails (the webhook is then
// answered 5xx and Twitch retries) and readiness names the broker.
func TestRedisDownRefusesDelivery(t *testing.T) {
	down := redistest.Down(t)
	br := New(Config{Redis: down, Keys: store.NewKeys("x:"), HistorySize: 10, HistoryAge: time.Minute})
	h := hub.New(hub.Config{HistorySize: 10, HistoryAge: time.Minute, Broker: br})
	defer h.Close()
	if err := h.Deliver([]string{"s1"}, msg(1)); err == nil {
		t.Fatal("Deliver succeeded with Redis down")
	}
	if br.Check(context.Background()) == nil {
		t.Fatal("readiness ok with Redis down")
	}
}

// TestRetryAfterReceiversChanged: Twitch retries a notification whose first append reached
// s1 only, after s2 joined the subscription; the retry is accepted (stored already), not
// refused with an error that would be answered 503 to every retry.
func TestRetryAfterReceiversChanged(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	a := newInstance(t, "", prefix, 200*time.Millisecond)
	m := msg(1)
	m.ID = "sub:msg-retried"
	first, err := a.broker.Publish([]string{"s1"}, m, m.Event)
	if err != nil || fmt.Sprint(first) != "[1]" {
		t.Fatalf("first append: %v, %v; want [1]", first, err)
	}
	again, err := a.broker.Publish([]string{"s1", "s2"}, m, m.Event)
	if err != nil {
		t.Fatalf("retry with one more receiver refused: %v", err)
	}
	if fmt.Sprint(again) != "[1]" {
		t.Fatalf("retry got %v, want the first append's [1]", again)
	}
	n, err := a.client.XLen(context.Background(), store.NewKeys(prefix).Broker().Log("s1")).Result()
	if err != nil || n != 1 {
		t.Fatalf("s1's stream holds %d entries (%v), want 1", n, err)
	}
}
