package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// frontFunc sits in front of the callback receiver, like a proxy: it answers a callback
// itself (and reports true) or lets it through.
type frontFunc func(w http.ResponseWriter, r *http.Request) bool

func (e *env) setFront(f frontFunc) { e.front.Store(&f) }

// shortVerify makes a pending subscription's checks fast.
func shortVerify(c *Config) { c.VerifyTimeout = 100 * time.Millisecond }

// firstChallenge reports whether r is the first challenge of typ seen through taken.
func firstChallenge(r *http.Request, typ string, taken *atomic.Bool) bool {
	return r.Header.Get(eventsub.HeaderMessageType) == eventsub.MessageTypeVerification &&
		r.Header.Get(eventsub.HeaderSubscriptionType) == typ && taken.CompareAndSwap(false, true)
}

// holdThen502 holds a callback until release is closed (or the test ends), then answers 502
// like a proxy that cannot reach us.
func holdThen502(t *testing.T, w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
	select {
	case <-release:
	case <-r.Context().Done():
	case <-t.Context().Done():
	}
	http.Error(w, "bad gateway", http.StatusBadGateway)
}

// subOf returns the simulator's subscription of typ under sid's callback.
func (e *env) subOf(sid, typ string) eventsub.Subscription {
	e.t.Helper()
	for _, sub := range e.simSubs(sid) {
		if sub.Type == typ {
			return sub
		}
	}
	e.t.Fatalf("no %s subscription under the session's callback", typ)
	return eventsub.Subscription{}
}

// checkGivenUp checks that the sessions show stream_changed failed with reasonVerifyFailed
// (the other feeds unharmed), that no record keeps the subscription and that Twitch no
// longer has it.
func checkGivenUp(t *testing.T, e *env, id string, sessions ...Session) {
	t.Helper()
	for i, s := range sessions {
		if f := e.sink.waitStatus(t, s.ID, FeedStreamChanged, StatusFailed); f.Reason != reasonVerifyFailed {
			t.Errorf("session %d: stream_changed reason %q, want %q", i, f.Reason, reasonVerifyFailed)
		}
		if f := statusOf(e.m.Statuses(s.ID), FeedUserChanged); f.Status != StatusActive {
			t.Errorf("session %d: user_changed %s (%s), want active", i, f.Status, f.Reason)
		}
		rec, _, err := e.store.Load(context.Background(), s.ID)
		if _, kept := rec.Subs[id]; err != nil || kept {
			t.Errorf("session %d: the record still references the unverified subscription (%v)", i, err)
		}
	}
	e.waitGone(id)
}

// The challenge of a shared stream.online subscription never reaches us (a proxy answers it
// 502), so Twitch marks it failed. After VerifyTimeout both sessions that reference it see
// stream_changed failed with the reason; it is deleted in Twitch, and the next SubscribeToAllEvents creates
// it again and it becomes active for both.
func TestUnverifiedSharedSubscriptionFails(t *testing.T) {
	e := newEnv(t, shortVerify)
	joined := make(chan struct{})
	var taken atomic.Bool
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !firstChallenge(r, eventsub.TypeStreamOnline, &taken) {
			return false
		}
		holdThen502(t, w, r, joined)
		return true
	})
	ctx := context.Background()
	a, b := e.session("modmaria", "pixelpaladin"), e.session("modmaria", "pixelpaladin")
	if err := e.m.SubscribeToAllEvents(ctx, a); err != nil {
		t.Fatal(err)
	}
	online := e.subOf(a.ID, eventsub.TypeStreamOnline)
	if err := e.m.SubscribeToAllEvents(ctx, b); err != nil { // joins the pending subscription
		t.Fatal(err)
	}
	if n := e.m.refCount(shareKey(online.Type, online.Condition)); n != 2 {
		t.Fatalf("%d sessions reference the pending stream.online, want 2", n)
	}
	close(joined)
	if sub, err := e.sim.WaitVerified(ctx, online.ID); err != nil || sub.Status != eventsub.StatusVerificationFailed {
		t.Fatalf("simulator status %q (%v), want %s", sub.Status, err, eventsub.StatusVerificationFailed)
	}
	checkGivenUp(t, e, online.ID, a, b)

	// The usual retry of failed feeds: the next SubscribeToAllEvents (stream_connected) creates it again.
	if f := statusOf(e.ensure(a), FeedStreamChanged); f.Status != StatusActive {
		t.Fatalf("after a second SubscribeToAllEvents stream_changed is %s (%s), want active", f.Status, f.Reason)
	}
	if f := statusOf(e.ensure(b), FeedStreamChanged); f.Status != StatusActive {
		t.Fatalf("the second session's stream_changed is %s (%s), want active", f.Status, f.Reason)
	}
	if again := e.subOf(a.ID, eventsub.TypeStreamOnline); again.ID == online.ID {
		t.Fatal("the failed subscription was not replaced")
	}
	checkOnePerCondition(t, e, 6)
}

// Our answer reached Twitch but we did not see the challenge (here a proxy answers it
// itself, as another instance would): the check finds it enabled and marks it active.
func TestVerifiedElsewhereBecomesActive(t *testing.T) {
	// Not shortVerify's 100 ms: the simulator enables the subscription once it has read the
	// front's answer, and on a loaded machine (-race, other packages) that took longer than
	// the three 100 ms checks, which then gave the subscription up. A second between checks
	// leaves it seconds, and the test still ends after the first check.
	e := newEnv(t, func(c *Config) { c.VerifyTimeout = time.Second })
	var taken atomic.Bool
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !firstChallenge(r, eventsub.TypeStreamOnline, &taken) {
			return false
		}
		var body struct{ Challenge string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body.Challenge))
		return true
	})
	s := e.session("modmaria", "pixelpaladin")
	if err := e.m.SubscribeToAllEvents(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	online := e.subOf(s.ID, eventsub.TypeStreamOnline)
	e.sink.waitStatus(t, s.ID, FeedStreamChanged, StatusActive)
	rec, _, err := e.store.Load(context.Background(), s.ID)
	if got := rec.Subs[online.ID].Status; err != nil || got != StatusActive {
		t.Errorf("stored status %q (%v), want active", got, err)
	}
	if sub, err := e.sim.WaitVerified(context.Background(), online.ID); err != nil || sub.Status != eventsub.StatusEnabled {
		t.Errorf("simulator status %q (%v), want enabled", sub.Status, err)
	}
}

// A subscription Twitch keeps pending, or whose status Twitch cannot tell us, is checked
// verifyChecks times and then given up like a failed one.
func TestUnverifiedGivenUpAfterChecks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		helixDown bool // Twitch answers the challenge's 502 at once, but listing fails
	}{{"twitch keeps it pending", false}, {"twitch cannot say", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var lists atomic.Int32
			e := newEnv(t, func(c *Config) {
				shortVerify(c)
				c.OnError = func(op string, _ error) {
					if op == "list subscription" {
						lists.Add(1)
					}
				}
			})
			release := make(chan struct{})
			defer close(release)
			if tc.helixDown {
				e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Method: http.MethodGet,
					Status: http.StatusServiceUnavailable, Count: 1000})
			}
			var taken atomic.Bool
			e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
				if !firstChallenge(r, eventsub.TypeStreamOnline, &taken) {
					return false
				}
				if tc.helixDown {
					http.Error(w, "bad gateway", http.StatusBadGateway)
				} else {
					holdThen502(t, w, r, release)
				}
				return true
			})
			s := e.session("modmaria", "pixelpaladin")
			if err := e.m.SubscribeToAllEvents(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			online := e.subOf(s.ID, eventsub.TypeStreamOnline)
			checkGivenUp(t, e, online.ID, s)
			want := int32(0)
			if tc.helixDown {
				want = verifyChecks
			}
			if got := lists.Load(); got != want {
				t.Errorf("%d checks could not list the subscription, want %d", got, want)
			}
		})
	}
}
