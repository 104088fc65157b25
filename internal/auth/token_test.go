package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

func TestTokenValid(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tok  auth.Token
		want bool
	}{
		{"no access token", auth.Token{Expiry: now.Add(time.Hour)}, false},
		{"hours left", auth.Token{AccessToken: "a", Expiry: now.Add(4 * time.Hour)}, true},
		{"two minutes left", auth.Token{AccessToken: "a", Expiry: now.Add(2 * time.Minute)}, true},
		{"thirty seconds left", auth.Token{AccessToken: "a", Expiry: now.Add(30 * time.Second)}, false},
		{"expired", auth.Token{AccessToken: "a", Expiry: now.Add(-time.Second)}, false},
		{"no expiry", auth.Token{AccessToken: "a"}, true},
	}
	for _, tt := range tests {
		if got := tt.tok.Valid(now); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTokenJSONRoundTrip(t *testing.T) {
	in := auth.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Scopes: []string{"user:read:follows"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out auth.Token
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.AccessToken != in.AccessToken || out.RefreshToken != in.RefreshToken ||
		!out.Expiry.Equal(in.Expiry) || len(out.Scopes) != 1 || !out.HasScope("user:read:follows") {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}

// userSource logs in through the simulator and wraps the token in a UserTokenSource that
// records every refreshed token.
func userSource(t *testing.T, e *env, login string) (*auth.UserTokenSource, auth.Token, *[]auth.Token) {
	t.Helper()
	tok, err := e.client.Exchange(context.Background(), e.login(t, login))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	var mu sync.Mutex
	var refreshed []auth.Token
	src := e.client.UserTokenSource(tok, func(nt auth.Token) {
		mu.Lock()
		defer mu.Unlock()
		refreshed = append(refreshed, nt)
	})
	return src, tok, &refreshed
}

func TestUserTokenSourceRefreshesOnInvalidate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, tok, refreshed := userSource(t, e, "modmaria")
	before := e.rt.count(tokenPath)

	got, err := src.Token(ctx)
	if err != nil || got != tok.AccessToken {
		t.Fatalf("Token = %q, %v; want the current access token", got, err)
	}
	src.Invalidate("notthecurrenttoken")
	if got, _ := src.Token(ctx); got != tok.AccessToken {
		t.Fatal("Invalidate of another token caused a refresh")
	}

	src.Invalidate(tok.AccessToken) // as after a Helix 401
	var wg sync.WaitGroup
	results := make([]string, 10)
	for i := range results {
		wg.Go(func() {
			var err error
			if results[i], err = src.Token(ctx); err != nil {
				t.Errorf("Token after Invalidate: %v", err)
			}
		})
	}
	wg.Wait()
	if n := e.rt.count(tokenPath) - before; n != 1 {
		t.Errorf("%d refresh requests for 10 concurrent callers, want 1", n)
	}
	if len(*refreshed) != 1 {
		t.Fatalf("OnRefresh called %d times, want 1", len(*refreshed))
	}
	nt := (*refreshed)[0]
	for _, r := range results {
		if r != nt.AccessToken {
			t.Fatalf("callers got %q, want the refreshed token", r)
		}
	}
	if nt.AccessToken == tok.AccessToken || nt.RefreshToken == tok.RefreshToken {
		t.Error("refreshed token did not rotate")
	}
	if src.Current().AccessToken != nt.AccessToken {
		t.Error("Current is not the refreshed token")
	}
	if v, err := e.client.Validate(ctx, nt.AccessToken); err != nil || v.Login != "modmaria" {
		t.Errorf("Validate(refreshed) = %+v, %v", v, err)
	}
}

func TestUserTokenSourceRefreshesBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, tok, refreshed := userSource(t, e, "lurker_lou")

	e.clock.Advance(time.Until(tok.Expiry) - 30*time.Second) // inside the one-minute margin
	got, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token near expiry: %v", err)
	}
	if got == tok.AccessToken || len(*refreshed) != 1 || (*refreshed)[0].AccessToken != got {
		t.Errorf("token not refreshed before expiry (OnRefresh calls: %d)", len(*refreshed))
	}
}

func TestUserTokenSourceRevoked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, tok, refreshed := userSource(t, e, "lurker_lou")
	// Revoking the access token also revokes its refresh token: the user must log in again.
	if err := e.client.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	src.Invalidate(tok.AccessToken)
	_, err := src.Token(ctx)
	if !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("err = %v, want ErrInvalidGrant", err)
	}
	if len(*refreshed) != 0 {
		t.Errorf("OnRefresh called %d times after a failed refresh", len(*refreshed))
	}
}
