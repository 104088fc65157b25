package eventsubws_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/eventsubws"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const (
	unit = 20 * time.Millisecond // the simulator's and the client's second
	wait = 30 * time.Second      // every wait, at most
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string)                       {}

// env is the simulator over real HTTP and a Client of its WebSocket server that
// subscribes channel.update of pixelpaladin for lurker_lou at each welcome.
type env struct {
	t      *testing.T
	sim    *twitchsim.Sim
	client *eventsubws.Client
	helix  *helix.Client
	token  staticToken

	mu       sync.Mutex
	msgs     []*webhook.Message
	losses   []eventsubws.Loss
	welcomes []string
	changed  chan struct{}
}

func newEnv(t *testing.T, keepalive int, once bool) *env {
	t.Helper()
	sim := twitchsim.New(twitchsim.Config{WSSecond: unit})
	srv := httptest.NewServer(sim)
	tok, err := sim.IssueUserToken("lurker_lou")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: sim, token: staticToken(tok.AccessToken), changed: make(chan struct{}),
		helix: helix.New(helix.Config{BaseURL: srv.URL + "/helix", ClientID: sim.ClientID()})}
	e.client = eventsubws.New(eventsubws.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws",
		KeepaliveSeconds: keepalive, Second: unit, Once: once}, eventsubws.Handler{
		Welcome: e.welcome,
		Message: func(m *webhook.Message) { e.note(func() { e.msgs = append(e.msgs, m) }) },
		Lost:    func(l eventsubws.Loss) { e.note(func() { e.losses = append(e.losses, l) }) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.client.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close(); sim.Close() })
	return e
}

func (e *env) note(f func()) {
	e.mu.Lock()
	f()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// welcome subscribes on the new session, as the relay does (in the background: the
// Client's reader must keep reading).
func (e *env) welcome(id string) {
	e.note(func() { e.welcomes = append(e.welcomes, id) })
}

func (e *env) subscribe(sessionID string) eventsub.Subscription {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	u, _ := e.sim.User("pixelpaladin")
	sub, err := e.helix.CreateUserSubscription(ctx, e.token, eventsub.CreateRequest{Type: eventsub.TypeChannelUpdate,
		Condition: eventsub.Condition{"broadcaster_user_id": u.ID},
		Transport: eventsub.Transport{Method: eventsub.TransportWebSocket, SessionID: sessionID}})
	if err != nil {
		e.t.Fatalf("subscribe on %s: %v", sessionID, err)
	}
	return sub
}

// waitFor waits until cond holds (under the env's lock).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.After(wait)
	for {
		e.mu.Lock()
		ok, changed := cond(), e.changed
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *env) sessionID() string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id, err := e.client.SessionID(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestSubscribeWithinWelcomeWindowAndReceive(t *testing.T) {
	e := newEnv(t, 10, false)
	sid := e.sessionID()
	e.subscribe(sid)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := e.sim.UpdateChannel(ctx, "pixelpaladin", "hello", ""); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the notification", func() bool { return len(e.msgs) == 1 })
	m := e.msgs[0]
	if m.Type != eventsub.MessageTypeNotification || m.SubscriptionType != eventsub.TypeChannelUpdate || m.Subscription.Type != eventsub.TypeChannelUpdate {
		t.Fatalf("message %+v", m)
	}
	ev, err := webhook.Normalize(m)
	if err != nil || !strings.Contains(ev.Summary, "hello") {
		t.Errorf("normalised %+v (%v), want the title in the summary", ev, err)
	}
	// Subscribed in time: the connection stays past the keepalive timeout (no 4003), which
	// the keepalives show.
	if _, err := e.sim.WaitWSSessions(ctx, func(s []twitchsim.WSSession) bool { return len(s) == 1 && s[0].Subscribed }); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.losses) != 0 {
		t.Errorf("losses %+v, want none", e.losses)
	}
}

func TestKeepaliveTimeoutIsALossAndRedials(t *testing.T) {
	e := newEnv(t, 10, false)
	first := e.sessionID()
	e.subscribe(first)
	if err := e.sim.SilenceWSSession(first); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the loss", func() bool { return len(e.losses) == 1 })
	if l := e.losses[0]; l.Code != eventsubws.CodeKeepaliveTimeout || l.SessionID != first || !l.Since.Before(l.At) {
		t.Fatalf("loss %+v, want a keepalive timeout of %s", l, first)
	}
	e.waitFor("a new session", func() bool { return len(e.welcomes) == 2 })
	if e.welcomes[1] == first {
		t.Errorf("the new session has the old id %s", first)
	}
}

func TestReconnectUnderSteadyStreamLosesAndDuplicatesNothing(t *testing.T) {
	e := newEnv(t, 60, false)
	sid := e.sessionID()
	e.subscribe(sid)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	const n = 200
	sent := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(sent)
		for i := range n {
			if _, err := e.sim.UpdateChannel(ctx, "pixelpaladin", fmt.Sprintf("t%03d", i), ""); err != nil {
				errs <- err
				return
			}
			if i == n/4 {
				if err := e.sim.ReconnectWSSession(sid); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	<-sent
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	e.waitFor("every notification", func() bool { return len(e.msgs) >= n })
	if _, err := e.sim.WaitWSSessions(ctx, func(s []twitchsim.WSSession) bool { return len(s) == 1 && s[0].Connections == 1 && !s[0].Reconnecting }); err != nil {
		t.Fatalf("the old connection is still open: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	got := map[string]int{}
	for _, m := range e.msgs {
		ev, err := webhook.Normalize(m)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.Summary]++
	}
	if len(e.msgs) != n || len(got) != n {
		t.Errorf("%d messages, %d distinct, want %d of each (0 lost, 0 duplicated)", len(e.msgs), len(got), n)
	}
	if len(e.losses) != 0 || len(e.welcomes) != 1 {
		t.Errorf("losses %+v, welcomes %d: a reconnect is neither", e.losses, len(e.welcomes))
	}
}

func TestEachCloseCodeIsALossWithItsCode(t *testing.T) {
	for code := eventsub.CloseInternalError; code <= eventsub.CloseInvalidReconnect; code++ {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			e := newEnv(t, 60, true)
			sid := e.sessionID()
			e.subscribe(sid)
			if err := e.sim.CloseWSSession(sid, code, "test"); err != nil {
				t.Fatal(err)
			}
			e.waitFor("the loss", func() bool { return len(e.losses) == 1 })
			if l := e.losses[0]; l.Code != code || l.SessionID != sid {
				t.Errorf("loss %+v, want code %d of %s", l, code, sid)
			}
		})
	}
}

func TestRevocationIsDelivered(t *testing.T) {
	e := newEnv(t, 60, false)
	sub := e.subscribe(e.sessionID())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := e.sim.RevokeSubscription(ctx, sub.ID, eventsub.StatusUserRemoved); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the revocation", func() bool { return len(e.msgs) == 1 })
	if m := e.msgs[0]; m.Type != eventsub.MessageTypeRevocation || m.Subscription.ID != sub.ID || m.Subscription.Status != eventsub.StatusUserRemoved {
		t.Errorf("message %+v", m)
	}
}
