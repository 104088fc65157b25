package helix_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

const usersPath = "/helix/users"

// The clock starts at a whole second + 250 ms, and Ratelimit-Reset is in whole seconds
// (rounded up by the simulator), so the expected waits below are exact.

func TestRateLimit429WaitedOut(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	e.sim.InjectFault(twitchsim.Fault{Path: usersPath, Method: http.MethodGet, Status: http.StatusTooManyRequests})

	u, err := e.client.GetUserByLogin(context.Background(), ts, "pixelpaladin")
	if err != nil {
		t.Fatalf("GetUserByLogin after a 429: %v", err)
	}
	if u.ID != "100001" {
		t.Errorf("user id = %q, want 100001", u.ID)
	}
	// The fault answers Ratelimit-Reset = ceil(now + 1 s) = now + 1.75 s.
	want := []time.Duration{1750 * time.Millisecond}
	if got := e.sleepCalls(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v (until Ratelimit-Reset)", got, want)
	}
	if got := e.rateLimitWaits(); !slices.Equal(got, want) {
		t.Errorf("OnRateLimitWait = %v, want %v", got, want)
	}
	if got := e.statuses(); !slices.Equal(got, []int{429, 200}) {
		t.Errorf("attempts = %v, want [429 200]", got)
	}
}

func TestRateLimitEmptyBucketWaitedOut(t *testing.T) {
	e := newEnv(t)
	e.sim.DrainRateLimit(e.sim.ClientID(), "") // the app token's bucket
	subs, err := e.client.ListSubscriptions(context.Background(), helix.ListFilter{})
	if err != nil {
		t.Fatalf("ListSubscriptions with an empty bucket: %v", err)
	}
	if len(subs) != 0 {
		t.Errorf("got %d subscriptions, want 0", len(subs))
	}
	// An empty bucket is full again after a minute: Reset = ceil(now + 60 s) = now + 60.75 s.
	want := []time.Duration{60750 * time.Millisecond}
	if got := e.sleepCalls(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if got := e.statuses(); !slices.Equal(got, []int{429, 200}) {
		t.Errorf("attempts = %v, want [429 200]", got)
	}
}

func TestRateLimitRemainingZeroWaitsBeforeNextRequest(t *testing.T) {
	e := newEnv(t, options{sim: func(c *twitchsim.Config) { c.RateLimitPoints = 2 }})
	ctx := context.Background()
	for i := range 3 {
		if _, err := e.client.ListSubscriptions(ctx, helix.ListFilter{}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	// Call 2 leaves the bucket empty (Remaining 0, Reset = ceil(now+60 s)); call 3 waits
	// for the reset before sending, so Twitch never sees a 429.
	if got := e.statuses(); !slices.Equal(got, []int{200, 200, 200}) {
		t.Errorf("attempts = %v, want [200 200 200] (no 429)", got)
	}
	want := []time.Duration{60750 * time.Millisecond}
	if got := e.rateLimitWaits(); !slices.Equal(got, want) {
		t.Errorf("rate-limit waits = %v, want %v", got, want)
	}
}

func TestRateLimitResetBeyondDeadline(t *testing.T) {
	e := newEnv(t)
	e.sim.DrainRateLimit(e.sim.ClientID(), "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := e.client.ListSubscriptions(ctx, helix.ListFilter{})
	if !errors.Is(err, helix.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if got := e.sleepCalls(); len(got) != 0 {
		t.Errorf("waited %v although the reset is after the deadline", got)
	}
	if got := e.statuses(); !slices.Equal(got, []int{429}) {
		t.Errorf("attempts = %v, want one 429 and no hammering", got)
	}
}

func TestRateLimitContextCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The real Sleep: the test cancels as soon as the client announces its wait.
	e := newEnv(t, options{helix: func(c *helix.Config) {
		c.Sleep = nil
		c.OnRateLimitWait = func(time.Duration) { cancel() }
	}})
	e.sim.DrainRateLimit(e.sim.ClientID(), "")
	start := time.Now()
	_, err := e.client.ListSubscriptions(ctx, helix.ListFilter{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("returned after %s: the wait did not honour the context", d)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	e.sim.InjectFault(twitchsim.Fault{Path: usersPath, Status: http.StatusServiceUnavailable, Count: 2})
	if _, err := e.client.GetUserByLogin(context.Background(), ts, "cozycrafter"); err != nil {
		t.Fatalf("GetUserByLogin after a 5xx burst: %v", err)
	}
	if got := e.statuses(); !slices.Equal(got, []int{503, 503, 200}) {
		t.Errorf("attempts = %v, want [503 503 200]", got)
	}
	waits := e.sleepCalls()
	if len(waits) != 2 {
		t.Fatalf("backoff waits = %v, want 2", waits)
	}
	// Exponential backoff from 200 ms with jitter in [d/2, d].
	for i, w := range waits {
		lo, hi := (100*time.Millisecond)<<i, (200*time.Millisecond)<<i
		if w < lo || w > hi {
			t.Errorf("backoff %d = %s, want within [%s, %s]", i+1, w, lo, hi)
		}
	}
	if len(e.rateLimitWaits()) != 0 {
		t.Error("a 5xx was reported as a rate-limit wait")
	}
}

func TestServerErrorsBeyondRetries(t *testing.T) {
	e := newEnv(t, options{helix: func(c *helix.Config) { c.MaxRetries = 2 }})
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Status: http.StatusBadGateway, Count: 10})
	_, err := e.client.ListSubscriptions(context.Background(), helix.ListFilter{Type: "stream.online"})
	if !errors.Is(err, helix.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var apiErr *helix.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway ||
		apiErr.Endpoint != "GET /eventsub/subscriptions" || apiErr.Message != "injected fault" {
		t.Errorf("err = %#v, want *APIError 502 for GET /eventsub/subscriptions with Twitch's message", err)
	}
	if got := e.statuses(); !slices.Equal(got, []int{502, 502, 502}) {
		t.Errorf("attempts = %v, want 3 (1 + MaxRetries)", got)
	}
	if !strings.Contains(err.Error(), "type=stream.online") {
		t.Errorf("error %q does not name the filter", err)
	}
}

func TestServerErrorContextCancelledDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, options{helix: func(c *helix.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
	}})
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Status: http.StatusInternalServerError})
	_, err := e.client.ListSubscriptions(ctx, helix.ListFilter{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestCallerDeadlineBoundsSlowAnswer(t *testing.T) {
	e := newEnv(t)
	e.sim.InjectFault(twitchsim.Fault{Path: "/helix/eventsub/subscriptions", Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := e.client.ListSubscriptions(ctx, helix.ListFilter{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestAppToken401RenewedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	app := e.auth.AppTokenSource()
	first, err := app.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ExpireToken(first) // Twitch now answers 401 to it
	if _, err := e.client.ListSubscriptions(ctx, helix.ListFilter{}); err != nil {
		t.Fatalf("ListSubscriptions with a dead app token: %v", err)
	}
	if got := e.statuses(); !slices.Equal(got, []int{401, 200}) {
		t.Errorf("attempts = %v, want [401 200]", got)
	}
	if second, _ := app.Token(ctx); second == first {
		t.Error("app token was not renewed after the 401")
	}
}

func TestClientIDMismatchUnauthorized(t *testing.T) {
	e := newEnv(t, options{helix: func(c *helix.Config) { c.ClientID = "someotherclientid" }})
	_, err := e.client.ListSubscriptions(context.Background(), helix.ListFilter{})
	if !errors.Is(err, helix.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "Client ID and OAuth token do not match") {
		t.Errorf("error %q does not keep Twitch's message", err)
	}
	// One retry with a fresh token, then give up: no loop.
	if got := e.statuses(); !slices.Equal(got, []int{401, 401}) {
		t.Errorf("attempts = %v, want [401 401]", got)
	}
}

func TestAPIErrorIs(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{400, helix.ErrBadRequest}, {401, helix.ErrUnauthorized}, {403, helix.ErrForbidden},
		{404, helix.ErrNotFound}, {409, helix.ErrConflict}, {429, helix.ErrRateLimited},
		{500, helix.ErrUnavailable}, {503, helix.ErrUnavailable},
	}
	all := []error{helix.ErrBadRequest, helix.ErrUnauthorized, helix.ErrForbidden, helix.ErrNotFound,
		helix.ErrConflict, helix.ErrRateLimited, helix.ErrUnavailable}
	for _, tt := range tests {
		err := error(&helix.APIError{Status: tt.status, Endpoint: "GET /x"})
		for _, s := range all {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("status %d: errors.Is(%v) = %v", tt.status, s, got)
			}
		}
	}
}
