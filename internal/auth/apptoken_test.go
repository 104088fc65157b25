package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

const tokenPath = "/id/oauth2/token"

func TestAppTokenCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.client.AppTokenSource()
	if src != e.client.AppTokenSource() {
		t.Error("AppTokenSource returns a new source each call; the cache would not be shared")
	}

	// Many concurrent callers: one token request, one token.
	const callers = 20
	got := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = src.Token(ctx) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("Token: %v", errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("callers got different tokens")
		}
	}
	for range 10 {
		if tok, _ := src.Token(ctx); tok != got[0] {
			t.Fatal("cached token changed")
		}
	}
	if n := e.rt.count(tokenPath); n != 1 {
		t.Errorf("%d token requests for %d calls, want 1", n, callers+10)
	}
	if _, err := e.client.Validate(ctx, got[0]); err != nil {
		t.Errorf("cached app token does not validate: %v", err)
	}

	// Invalidating some other (older) token changes nothing.
	src.Invalidate("someoldtoken")
	if tok, _ := src.Token(ctx); tok != got[0] || e.rt.count(tokenPath) != 1 {
		t.Error("Invalidate of a token that is not the cached one dropped the cache")
	}

	// Invalidate (after a 401) makes the next call fetch a new token.
	src.Invalidate(got[0])
	renewed, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token after Invalidate: %v", err)
	}
	if renewed == got[0] {
		t.Error("Token after Invalidate returned the invalidated token")
	}
	if n := e.rt.count(tokenPath); n != 2 {
		t.Errorf("%d token requests after Invalidate, want 2", n)
	}
	e.assertNotLogged(t, got[0], renewed, e.sim.ClientSecret())
}

func TestAppTokenRenewedBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.client.AppTokenSource()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	// The simulator's app tokens live about 58 days, like Twitch's.
	e.clock.Advance(57 * 24 * time.Hour)
	if tok, _ := src.Token(ctx); tok != first {
		t.Fatal("token renewed long before expiry")
	}
	e.clock.Advance(24*time.Hour - 2*time.Minute) // about three minutes before expiry
	second, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token near expiry: %v", err)
	}
	if second == first {
		t.Error("token not renewed shortly before expiry")
	}
	if _, err := e.client.Validate(ctx, second); err != nil {
		t.Errorf("renewed token does not validate: %v", err)
	}
}

func TestAppTokenWrongSecret(t *testing.T) {
	e := newEnv(t)
	_, err := e.newClient("wrongwrongwrong").AppTokenSource().Token(context.Background())
	if !errors.Is(err, auth.ErrInvalidClient) {
		t.Fatalf("err = %v, want ErrInvalidClient", err)
	}
	if !strings.Contains(err.Error(), "invalid client secret") {
		t.Errorf("error %q does not keep Twitch's message", err)
	}
	e.assertNotLogged(t, "wrongwrongwrong")
}

func TestAppTokenContextCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.client.AppTokenSource().Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := e.rt.count(tokenPath); n != 0 {
		t.Errorf("%d token requests with a cancelled context, want 0", n)
	}
}
