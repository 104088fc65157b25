package twitchsim

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// token is an access token. userID is empty for app tokens.
type token struct {
	access   string
	clientID string
	userID   string
	scopes   []string
	expires  time.Time
	refresh  string // the refresh token issued with it ("" for app tokens)
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	clientID string
	userID   string
	scopes   []string
}

// authCode is an authorization code waiting to be exchanged, once.
type authCode struct {
	clientID    string
	redirectURI string
	userID      string
	scopes      []string
	expires     time.Time
}

// Token is a token response, for tests that skip the browser part of the OAuth flow.
type Token struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	ExpiresIn    int      `json:"expires_in"`
	Scope        []string `json:"scope,omitempty"`
	TokenType    string   `json:"token_type"`
}

// issueUserToken creates an access and refresh token and records the grant. Caller holds mu.
func (s *Sim) issueUserToken(userID string, scopes []string) Token {
	scopes = slices.Clone(scopes)
	if scopes == nil {
		scopes = []string{}
	}
	t := &token{access: randomToken(30), clientID: s.cfg.ClientID, userID: userID, scopes: scopes,
		expires: s.now().Add(s.cfg.UserTokenTTL), refresh: randomToken(50)}
	s.tokens[t.access] = t
	s.refresh[t.refresh] = &refreshGrant{clientID: t.clientID, userID: userID, scopes: scopes}
	g := s.grants[userID]
	if g == nil {
		g = map[string]bool{}
		s.grants[userID] = g
	}
	for _, sc := range scopes {
		g[sc] = true
	}
	return Token{AccessToken: t.access, RefreshToken: t.refresh, ExpiresIn: int(s.cfg.UserTokenTTL.Seconds()),
		Scope: scopes, TokenType: "bearer"}
}

// issueAppToken creates a client-credentials token. Caller holds mu.
func (s *Sim) issueAppToken() Token {
	t := &token{access: randomToken(30), clientID: s.cfg.ClientID, expires: s.now().Add(s.cfg.AppTokenTTL)}
	s.tokens[t.access] = t
	return Token{AccessToken: t.access, ExpiresIn: int(s.cfg.AppTokenTTL.Seconds()), TokenType: "bearer"}
}

// IssueUserToken grants scopes to the user as if it had gone through the authorize page
// and the code exchange, and returns the token response.
func (s *Sim) IssueUserToken(login string, scopes ...string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.world.mustLogin(login)
	if err != nil {
		return Token{}, err
	}
	if bad := unknownScope(scopes); bad != "" {
		return Token{}, &scopeError{bad}
	}
	return s.issueUserToken(u.ID, scopes), nil
}

// IssueAppToken returns a fresh app access token, as the client_credentials grant does.
func (s *Sim) IssueAppToken() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueAppToken()
}

// ExpireToken makes an access token expire now (it then fails validation and Helix).
func (s *Sim) ExpireToken(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[access]; ok {
		t.expires = s.now()
	}
}

// lookupToken returns a live token. Caller holds mu.
func (s *Sim) lookupToken(access string) (*token, bool) {
	t, ok := s.tokens[access]
	if !ok {
		return nil, false
	}
	if !s.now().Before(t.expires) {
		delete(s.tokens, access)
		return nil, false
	}
	return t, true
}

// authorized reports whether the user has ever granted anything to the client (and has
// not disconnected it since). Caller holds mu.
func (s *Sim) authorized(userID string) bool {
	_, ok := s.grants[userID]
	return ok
}

// hasScope reports whether the user granted scope to the client. Caller holds mu.
func (s *Sim) hasScope(userID, scope string) bool {
	return s.grants[userID][scope]
}

// checkClient authenticates the client of a token request, writing Twitch's error.
func (s *Sim) checkClient(w http.ResponseWriter, clientID, secret string) bool {
	switch {
	case clientID == "":
		idError(w, http.StatusBadRequest, "missing client id")
	case clientID != s.cfg.ClientID:
		idError(w, http.StatusBadRequest, "invalid client")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1:
		idError(w, http.StatusForbidden, "invalid client secret")
	default:
		return true
	}
	return false
}

// handleToken serves POST /id/oauth2/token. Fields come from the form body or, as Twitch
// also accepts, the query string.
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		idError(w, http.StatusBadRequest, "malformed request body")
		return
	}
	if !s.checkClient(w, r.Form.Get("client_id"), r.Form.Get("client_secret")) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, r.Form.Get("code"), r.Form.Get("redirect_uri"))
	case "refresh_token":
		s.refreshToken(w, r.Form.Get("refresh_token"))
	case "client_credentials":
		if bad := unknownScope(strings.Fields(r.Form.Get("scope"))); bad != "" {
			idError(w, http.StatusBadRequest, (&scopeError{bad}).Error())
			return
		}
		writeJSON(w, http.StatusOK, s.issueAppToken())
	case "":
		idError(w, http.StatusBadRequest, "missing grant type")
	default:
		idError(w, http.StatusBadRequest, "invalid grant type")
	}
}

// exchangeCode is the authorization_code grant. Caller holds mu. A code is spent by the
// first exchange attempt that names it, successful or not.
func (s *Sim) exchangeCode(w http.ResponseWriter, code, redirectURI string) {
	if code == "" {
		idError(w, http.StatusBadRequest, "missing code")
		return
	}
	c, ok := s.codes[code]
	delete(s.codes, code)
	if !ok || c.clientID != s.cfg.ClientID || !s.now().Before(c.expires) {
		idError(w, http.StatusBadRequest, "Invalid authorization code")
		return
	}
	if c.redirectURI != redirectURI || !slices.Contains(s.redirectURIs, redirectURI) {
		idError(w, http.StatusBadRequest, "Parameter redirect_uri does not match registered URI")
		return
	}
	writeJSON(w, http.StatusOK, s.issueUserToken(c.userID, c.scopes))
}

// refreshToken is the refresh_token grant; the refresh token rotates. Caller holds mu.
func (s *Sim) refreshToken(w http.ResponseWriter, refresh string) {
	if refresh == "" {
		idError(w, http.StatusBadRequest, "missing refresh token")
		return
	}
	g, ok := s.refresh[refresh]
	if !ok || g.clientID != s.cfg.ClientID {
		idError(w, http.StatusBadRequest, "Invalid refresh token")
		return
	}
	delete(s.refresh, refresh)
	writeJSON(w, http.StatusOK, s.issueUserToken(g.userID, g.scopes))
}

// handleValidate serves GET /id/oauth2/validate (Authorization: OAuth or Bearer).
func (s *Sim) handleValidate(w http.ResponseWriter, r *http.Request) {
	access, ok := authToken(r.Header.Get("Authorization"), "oauth", "bearer")
	if !ok {
		idError(w, http.StatusUnauthorized, "missing authorization token")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lookupToken(access)
	if !ok {
		idError(w, http.StatusUnauthorized, "invalid access token")
		return
	}
	resp := struct {
		ClientID  string   `json:"client_id"`
		Login     string   `json:"login,omitempty"`
		Scopes    []string `json:"scopes"`
		UserID    string   `json:"user_id,omitempty"`
		ExpiresIn int      `json:"expires_in"`
	}{ClientID: t.clientID, Scopes: t.scopes, ExpiresIn: int(t.expires.Sub(s.now()).Seconds())}
	if resp.Scopes == nil {
		resp.Scopes = []string{}
	}
	if u, ok := s.world.users[t.userID]; ok {
		resp.Login, resp.UserID = u.Login, u.ID
	}
	s.validations++
	writeJSON(w, http.StatusOK, resp)
}

// Validations is how many tokens /oauth2/validate has found good so far.
func (s *Sim) Validations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validations
}

// handleRevoke serves POST /id/oauth2/revoke (client_id, token). Revoking a user access
// token also revokes the refresh token issued with it.
func (s *Sim) handleRevoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		idError(w, http.StatusBadRequest, "malformed request body")
		return
	}
	clientID, access := r.Form.Get("client_id"), r.Form.Get("token")
	switch {
	case clientID == "":
		idError(w, http.StatusBadRequest, "missing client id")
		return
	case clientID != s.cfg.ClientID:
		idError(w, http.StatusNotFound, "client does not exist")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lookupToken(access)
	if !ok || t.clientID != clientID {
		idError(w, http.StatusBadRequest, "Invalid token")
		return
	}
	delete(s.tokens, access)
	delete(s.refresh, t.refresh)
	w.WriteHeader(http.StatusOK)
}

// authToken extracts the token of an Authorization header whose scheme is one of schemes
// (case-insensitive).
func authToken(header string, schemes ...string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return "", false
	}
	return tok, slices.Contains(schemes, strings.ToLower(scheme))
}
