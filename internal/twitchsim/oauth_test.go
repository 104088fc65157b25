package twitchsim

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

type validateResp struct {
	ClientID  string   `json:"client_id"`
	Login     *string  `json:"login"`
	Scopes    []string `json:"scopes"`
	UserID    *string  `json:"user_id"`
	ExpiresIn int      `json:"expires_in"`
}

func (e *env) validate(scheme, tok string) result {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/id/oauth2/validate", nil)
	if scheme != "" {
		req.Header.Set("Authorization", scheme+" "+tok)
	}
	return e.do(req)
}

func (e *env) refresh(rt string) result {
	e.t.Helper()
	return e.postForm("/id/oauth2/token", url.Values{"client_id": {e.sim.ClientID()},
		"client_secret": {e.sim.ClientSecret()}, "grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (e *env) revoke(clientID, tok string) result {
	e.t.Helper()
	return e.postForm("/id/oauth2/revoke", url.Values{"client_id": {clientID}, "token": {tok}})
}

func wantError(t *testing.T, r result, status int, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.message(t); got != message {
		t.Fatalf("message %q, want %q", got, message)
	}
}

// The whole flow: authorize → code → token → validate → refresh (rotation) → revoke.
func TestOAuthFullFlow(t *testing.T) {
	e := newEnv(t, nil)
	loc := e.authorize("pixelpaladin", "authorize", "user:read:email", "moderator:read:followers")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	q := loc.Query()
	if q.Get("state") != "st4te" || q.Get("code") == "" || q.Get("scope") != "user:read:email moderator:read:followers" {
		t.Fatalf("redirect query %v: want code, state st4te and the scopes", q)
	}

	r := e.exchange(q.Get("code"))
	if r.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	var tok Token
	r.json(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "bearer" ||
		tok.ExpiresIn != int(defaultUserTokenTTL.Seconds()) ||
		!slices.Equal(tok.Scope, []string{"user:read:email", "moderator:read:followers"}) {
		t.Fatalf("token response %+v", tok)
	}

	for _, scheme := range []string{"OAuth", "Bearer", "oauth"} {
		r = e.validate(scheme, tok.AccessToken)
		if r.status != http.StatusOK {
			t.Fatalf("validate with %s: %d %s", scheme, r.status, r.body)
		}
	}
	var v validateResp
	r.json(t, &v)
	if v.ClientID != DefaultClientID || v.Login == nil || *v.Login != "pixelpaladin" || v.UserID == nil ||
		*v.UserID != "100001" || len(v.Scopes) != 2 || v.ExpiresIn <= 0 {
		t.Fatalf("validate = %+v", v)
	}

	r = e.refresh(tok.RefreshToken)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var tok2 Token
	r.json(t, &tok2)
	if tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken || len(tok2.Scope) != 2 {
		t.Fatalf("refresh did not rotate: %+v", tok2)
	}
	wantError(t, e.refresh(tok.RefreshToken), http.StatusBadRequest, "Invalid refresh token")

	if r = e.revoke(DefaultClientID, tok2.AccessToken); r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("revoke: %d %q, want 200 and an empty body", r.status, r.body)
	}
	wantError(t, e.validate("OAuth", tok2.AccessToken), http.StatusUnauthorized, "invalid access token")
	wantError(t, e.refresh(tok2.RefreshToken), http.StatusBadRequest, "Invalid refresh token")
	wantError(t, e.revoke(DefaultClientID, tok2.AccessToken), http.StatusBadRequest, "Invalid token")
	wantError(t, e.revoke("nosuchclient", tok.AccessToken), http.StatusNotFound, "client does not exist")
}

func TestTokenRejections(t *testing.T) {
	e := newEnv(t, nil)
	code := func() string { return e.authorize("cozycrafter", "authorize").Query().Get("code") }
	base := func(grant string) url.Values {
		return url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "grant_type": {grant}}
	}
	tests := []struct {
		name    string
		form    func() url.Values
		status  int
		message string
	}{
		{"wrong secret", func() url.Values {
			f := base("client_credentials")
			f.Set("client_secret", "nope")
			return f
		}, 403, "invalid client secret"},
		{"unknown client", func() url.Values {
			f := base("client_credentials")
			f.Set("client_id", "someoneelse")
			return f
		}, 400, "invalid client"},
		{"missing grant", func() url.Values { return base("") }, 400, "missing grant type"},
		{"redirect mismatch", func() url.Values {
			f := base("authorization_code")
			f.Set("code", code())
			f.Set("redirect_uri", "http://127.0.0.1:8080/other")
			return f
		}, 400, "Parameter redirect_uri does not match registered URI"},
		{"unknown code", func() url.Values {
			f := base("authorization_code")
			f.Set("code", "madeup")
			f.Set("redirect_uri", testRedirect)
			return f
		}, 400, "Invalid authorization code"},
		{"unknown refresh token", func() url.Values {
			f := base("refresh_token")
			f.Set("refresh_token", "madeup")
			return f
		}, 400, "Invalid refresh token"},
		{"missing refresh token", func() url.Values { return base("refresh_token") }, 400, "missing refresh token"},
		{"unknown scope", func() url.Values {
			f := base("client_credentials")
			f.Set("scope", "chat:read bogus:scope")
			return f
		}, 400, "invalid scope requested: 'bogus:scope'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.postForm("/id/oauth2/token", tt.form()), tt.status, tt.message)
		})
	}
}

func TestCodeSingleUseAndExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CodeTTL = time.Minute })
	code := e.authorize("lurker_lou", "authorize").Query().Get("code")
	if r := e.exchange(code); r.status != http.StatusOK {
		t.Fatalf("first exchange: %d %s", r.status, r.body)
	}
	wantError(t, e.exchange(code), http.StatusBadRequest, "Invalid authorization code")

	code = e.authorize("lurker_lou", "authorize").Query().Get("code")
	e.clock.Advance(time.Minute)
	wantError(t, e.exchange(code), http.StatusBadRequest, "Invalid authorization code")
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UserTokenTTL = time.Hour; c.AppTokenTTL = 2 * time.Hour })
	user := e.userToken("modmaria")
	app := e.appToken()
	e.clock.Advance(time.Hour)
	wantError(t, e.validate("OAuth", user.AccessToken), http.StatusUnauthorized, "invalid access token")
	wantError(t, e.helix(http.MethodGet, "/users", user.AccessToken, nil), http.StatusUnauthorized, "Invalid OAuth token")
	if r := e.validate("OAuth", app); r.status != http.StatusOK {
		t.Fatalf("app token expired early: %d", r.status)
	}
	// The refresh token outlives the access token, as on Twitch.
	if r := e.refresh(user.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("refresh after expiry: %d %s", r.status, r.body)
	}
	e.clock.Advance(time.Hour)
	wantError(t, e.validate("OAuth", app), http.StatusUnauthorized, "invalid access token")
}

func TestValidateAppTokenAndMissingHeader(t *testing.T) {
	e := newEnv(t, nil)
	r := e.validate("OAuth", e.appToken())
	var v validateResp
	r.json(t, &v)
	if r.status != http.StatusOK || v.Login != nil || v.UserID != nil || v.ClientID != DefaultClientID {
		t.Fatalf("app token validate: %d %s, want 200 without login and user_id", r.status, r.body)
	}
	wantError(t, e.validate("", ""), http.StatusUnauthorized, "missing authorization token")
	wantError(t, e.validate("Basic", "abc"), http.StatusUnauthorized, "missing authorization token")
}

// Twitch also takes the token request's fields from the query string.
func TestTokenAcceptsQueryString(t *testing.T) {
	e := newEnv(t, nil)
	q := url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/id/oauth2/token?"+q.Encode(), nil)
	if r := e.do(req); r.status != http.StatusOK {
		t.Fatalf("query-string token request: %d %s", r.status, r.body)
	}
}

func TestRevokeUserInvalidatesTokens(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.userToken("quietquinn", "user:read:follows")
	if _, err := e.sim.RevokeUser(context.Background(), "quietquinn"); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.validate("OAuth", tok.AccessToken), http.StatusUnauthorized, "invalid access token")
	wantError(t, e.refresh(tok.RefreshToken), http.StatusBadRequest, "Invalid refresh token")
}
