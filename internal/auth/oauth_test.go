package auth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/config"
)

func TestAuthCodeURL(t *testing.T) {
	c := auth.New(auth.Config{ClientID: "cid", ClientSecret: "secret", RedirectURL: redirectURL, OAuthBaseURL: config.DefaultTwitchOAuthURL})
	tests := []struct {
		name        string
		forceVerify bool
		wantForce   string
	}{
		{"default", false, ""},
		{"force verify", true, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(c.AuthCodeURL("st4te", tt.forceVerify))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != "https://id.twitch.tv/oauth2/authorize" {
				t.Errorf("endpoint = %s, want https://id.twitch.tv/oauth2/authorize", got)
			}
			q := u.Query()
			want := map[string]string{
				"client_id":     "cid",
				"redirect_uri":  redirectURL,
				"response_type": "code",
				"scope":         "user:read:follows moderator:read:followers user:read:chat",
				"state":         "st4te",
				"force_verify":  tt.wantForce,
			}
			for k, v := range want {
				if got := q.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if q.Has("client_secret") {
				t.Error("the authorize URL carries the client secret")
			}
		})
	}
}

func TestAuthCodeURLCustomScopesAndBase(t *testing.T) {
	c := auth.New(auth.Config{ClientID: "cid", RedirectURL: redirectURL,
		OAuthBaseURL: "http://127.0.0.1:9/id/oauth2/", Scopes: []string{"user:read:email"}})
	u, _ := url.Parse(c.AuthCodeURL("s", false))
	if got := u.Host + u.Path; got != "127.0.0.1:9/id/oauth2/authorize" {
		t.Errorf("endpoint = %s, want 127.0.0.1:9/id/oauth2/authorize", got)
	}
	if got := u.Query().Get("scope"); got != "user:read:email" {
		t.Errorf("scope = %q, want user:read:email", got)
	}
}

func TestNewState(t *testing.T) {
	a, b := auth.NewState(), auth.NewState()
	if len(a) != 43 { // 32 bytes, base64url without padding
		t.Errorf("len(state) = %d, want 43", len(a))
	}
	if strings.ContainsAny(a, "+/=") {
		t.Errorf("state %q is not base64url without padding", a)
	}
	if a == b {
		t.Error("two states are equal")
	}
}

func TestStateEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "abcd", false},
		{"", "", false},
		{"abc", "", false},
		{"", "abc", false},
	}
	for _, tt := range tests {
		if got := auth.StateEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("StateEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestLoginFlow is the whole journey against the simulator: authorize page, code,
// exchange, validate, refresh (with rotation), revoke.
func TestLoginFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	code := e.login(t, "modmaria")
	tok, err := e.client.Exchange(ctx, code)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("Exchange gave token without access or refresh token: %+v", tok)
	}
	wantScopes := []string{"user:read:follows", "moderator:read:followers", "user:read:chat"}
	if !slices.Equal(tok.Scopes, wantScopes) {
		t.Errorf("token scopes = %q, want %q (Twitch sends scope as an array)", tok.Scopes, wantScopes)
	}
	if d := time.Until(tok.Expiry); d < 3*time.Hour || d > 5*time.Hour {
		t.Errorf("token expires in %s, want about 4h (expires_in)", d)
	}
	if !tok.Valid(e.clock.Now()) {
		t.Error("fresh token is not Valid")
	}

	v, err := e.client.Validate(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if v.Login != "modmaria" || v.UserID != "200002" || v.ClientID != e.sim.ClientID() {
		t.Errorf("Validate = %+v, want modmaria/200002 for our client id", v)
	}
	if !slices.Equal(v.Scopes, wantScopes) || v.ExpiresIn <= 0 {
		t.Errorf("Validate scopes %q expires_in %d, want %q and > 0", v.Scopes, v.ExpiresIn, wantScopes)
	}

	refreshed, err := e.client.Refresh(ctx, tok)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == tok.RefreshToken {
		t.Errorf("Refresh did not give a new access and refresh token")
	}
	if !slices.Equal(refreshed.Scopes, wantScopes) {
		t.Errorf("refreshed scopes = %q, want %q", refreshed.Scopes, wantScopes)
	}
	// The refresh token rotated: the old one is now rejected.
	_, err = e.client.Refresh(ctx, tok)
	if !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("Refresh with the rotated-out refresh token: err = %v, want ErrInvalidGrant", err)
	}
	if err == nil || !strings.Contains(err.Error(), "Invalid refresh token") {
		t.Errorf("error %q does not keep Twitch's message", err)
	}
	if _, err := e.client.Validate(ctx, refreshed.AccessToken); err != nil {
		t.Errorf("Validate(refreshed token): %v", err)
	}

	if err := e.client.Revoke(ctx, refreshed.AccessToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	_, err = e.client.Validate(ctx, refreshed.AccessToken)
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Validate after Revoke: err = %v, want ErrInvalidToken", err)
	}
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "invalid access token" {
		t.Errorf("Validate after Revoke: error %#v, want *auth.Error 401 \"invalid access token\"", err)
	}
	if err := e.client.Revoke(ctx, refreshed.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("second Revoke: err = %v, want ErrInvalidToken", err)
	}

	e.assertNotLogged(t, code, tok.AccessToken, tok.RefreshToken, refreshed.AccessToken,
		refreshed.RefreshToken, e.sim.ClientSecret())
}

func TestExchangeReusedCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	code := e.login(t, "lurker_lou")
	if _, err := e.client.Exchange(ctx, code); err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	_, err := e.client.Exchange(ctx, code)
	if !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("reused code: err = %v, want ErrInvalidGrant", err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Errorf("reused code: err %v does not unwrap to *oauth2.RetrieveError", err)
	}
	if !strings.Contains(err.Error(), "Invalid authorization code") {
		t.Errorf("reused code: error %q does not keep Twitch's message", err)
	}
	e.assertNotLogged(t, code)
}

func TestExchangeErrors(t *testing.T) {
	tests := []struct {
		name    string
		client  func(e *env) *auth.Client
		code    func(t *testing.T, e *env) string
		want    error
		wantMsg string
	}{
		{
			name:    "wrong secret",
			client:  func(e *env) *auth.Client { return e.newClient("not-the-secret") },
			code:    func(t *testing.T, e *env) string { return e.login(t, "modmaria") },
			want:    auth.ErrInvalidClient,
			wantMsg: "invalid client secret",
		},
		{
			name:    "unknown code",
			client:  func(e *env) *auth.Client { return e.client },
			code:    func(*testing.T, *env) string { return "neverissued" },
			want:    auth.ErrInvalidGrant,
			wantMsg: "Invalid authorization code",
		},
		{
			name: "expired code",
			client: func(e *env) *auth.Client {
				return e.client
			},
			code: func(t *testing.T, e *env) string {
				code := e.login(t, "modmaria")
				e.clock.Advance(time.Hour) // codes live 10 minutes
				return code
			},
			want:    auth.ErrInvalidGrant,
			wantMsg: "Invalid authorization code",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			code := tt.code(t, e)
			_, err := tt.client(e).Exchange(context.Background(), code)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain Twitch's message %q", err, tt.wantMsg)
			}
			e.assertNotLogged(t, code, e.sim.ClientSecret(), "not-the-secret")
		})
	}
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Refresh(context.Background(), auth.Token{AccessToken: "x"})
	if !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("err = %v, want ErrInvalidGrant", err)
	}
	if n := e.rt.count("/id/oauth2/token"); n != 0 {
		t.Errorf("%d token requests, want none", n)
	}
}

func TestRevokeUnknownClient(t *testing.T) {
	e := newEnv(t)
	c := auth.New(auth.Config{ClientID: "someoneelse", ClientSecret: "x", RedirectURL: redirectURL,
		OAuthBaseURL: e.srv.URL + "/id/oauth2"})
	err := c.Revoke(context.Background(), "whatever")
	if !errors.Is(err, auth.ErrInvalidClient) {
		t.Errorf("err = %v, want ErrInvalidClient", err)
	}
}
