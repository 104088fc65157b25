package twitchsim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// knownScopes are the Twitch scopes the simulator accepts; any other is rejected as on
// Twitch with "invalid scope requested: 'x'".
var knownScopes = []string{
	"analytics:read:extensions", "analytics:read:games", "bits:read", "channel:bot",
	"channel:edit:commercial", "channel:manage:broadcast", "channel:manage:moderators",
	"channel:manage:polls", "channel:manage:predictions", "channel:manage:raids",
	"channel:manage:redemptions", "channel:manage:schedule", "channel:manage:videos",
	"channel:manage:vips", "channel:moderate", "channel:read:editors", "channel:read:goals",
	"channel:read:hype_train", "channel:read:polls", "channel:read:predictions",
	"channel:read:redemptions", "channel:read:subscriptions", "channel:read:vips", "chat:edit",
	"chat:read", "clips:edit", "moderation:read", "moderator:manage:announcements",
	"moderator:manage:banned_users", "moderator:manage:chat_messages",
	"moderator:manage:chat_settings", "moderator:read:chatters", "moderator:read:followers",
	"openid", "user:bot", "user:edit", "user:manage:whispers", "user:read:blocked_users",
	"user:read:broadcast", "user:read:chat", "user:read:email", "user:read:follows",
	"user:read:subscriptions", "user:write:chat", "whispers:read",
}

// scopeError is Twitch's answer to an unknown scope.
type scopeError struct{ scope string }

func (e *scopeError) Error() string { return "invalid scope requested: '" + e.scope + "'" }

// unknownScope returns the first scope that Twitch does not know, or "".
func unknownScope(scopes []string) string {
	for _, sc := range scopes {
		if !slices.Contains(knownScopes, sc) {
			return sc
		}
	}
	return ""
}

// authRequest is a validated authorize request.
type authRequest struct {
	ClientID, RedirectURI, ResponseType, Scope, State, ForceVerify string
	Scopes                                                         []string
}

// parseAuthRequest validates client_id, redirect_uri (exact match), response_type and
// scope. A bad request gets an error page, never a redirect: the redirect URI is not
// trusted until it is known to be registered.
func (s *Sim) parseAuthRequest(v url.Values) (authRequest, string) {
	ar := authRequest{
		ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"),
		ResponseType: v.Get("response_type"), Scope: v.Get("scope"), State: v.Get("state"),
		ForceVerify: v.Get("force_verify"),
	}
	ar.Scopes = strings.Fields(ar.Scope)
	s.mu.Lock()
	registered := slices.Contains(s.redirectURIs, ar.RedirectURI)
	s.mu.Unlock()
	switch {
	case ar.ClientID == "":
		return ar, "missing client_id"
	case ar.ClientID != s.cfg.ClientID:
		return ar, "invalid client"
	case ar.RedirectURI == "":
		return ar, "missing redirect_uri"
	case !registered:
		return ar, "Parameter redirect_uri does not match registered URI"
	case ar.ResponseType != "code":
		return ar, "unsupported response_type: the simulator implements the authorization code flow (response_type=code)"
	}
	if bad := unknownScope(ar.Scopes); bad != "" {
		return ar, (&scopeError{bad}).Error()
	}
	return ar, ""
}

// handleAuthorizePage serves GET /id/oauth2/authorize: the consent page.
func (s *Sim) handleAuthorizePage(w http.ResponseWriter, r *http.Request) {
	ar, msg := s.parseAuthRequest(r.URL.Query())
	if msg != "" {
		s.renderAuthError(w, msg)
		return
	}
	s.renderAuthPage(w, http.StatusOK, ar, "")
}

// handleAuthorizeDecision serves POST /id/oauth2/authorize: the person's choice.
func (s *Sim) handleAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.renderAuthError(w, "malformed form")
		return
	}
	ar, msg := s.parseAuthRequest(r.PostForm)
	if msg != "" {
		s.renderAuthError(w, msg)
		return
	}
	switch r.PostForm.Get("action") {
	case "cancel":
		s.redirect(w, r, ar.RedirectURI, url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user denied you access"},
			"state":             {ar.State},
		})
	case "authorize":
		login := r.PostForm.Get("login")
		s.mu.Lock()
		u, ok := s.world.byLoginName(login)
		var code string
		if ok {
			code = randomToken(30)
			s.codes[code] = &authCode{clientID: ar.ClientID, redirectURI: ar.RedirectURI, userID: u.ID,
				scopes: ar.Scopes, expires: s.now().Add(s.cfg.CodeTTL)}
		}
		s.mu.Unlock()
		if !ok {
			s.renderAuthPage(w, http.StatusBadRequest, ar, "Pick one of the users to sign in as.")
			return
		}
		s.log.Info("authorized", "user_id", u.ID, "scopes", ar.Scope)
		s.redirect(w, r, ar.RedirectURI, url.Values{
			"code":  {code},
			"scope": {strings.Join(ar.Scopes, " ")},
			"state": {ar.State},
		})
	default:
		s.renderAuthError(w, "unknown action: use authorize or cancel")
	}
}

// redirect sends a 302 to the registered redirect URI with params added to its query.
func (s *Sim) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.renderAuthError(w, "registered redirect_uri is not a URL")
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}
