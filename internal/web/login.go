package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

// GET /login: start the authorization code flow with a fresh, single-use state, kept in a
// signed 10-minute cookie (oauthstate.go): no server-side session for an anonymous visitor.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	state := auth.NewState()
	s.setStateCookie(w, state)
	http.Redirect(w, r, s.opt.Auth.AuthCodeURL(state, r.URL.Query().Get("force_verify") == "true"), http.StatusFound)
	return nil
}

// GET /auth: Twitch's redirect back (the original design's "/auth"): check the state, trade
// the code for a token, find out who logged in, renew the session token, go to the form.
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	want := s.popStateCookie(w, r) // single use, whatever happens next
	if !auth.StateEqual(want, q.Get("state")) {
		return errBadState
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return errAccessDenied
		}
		// Anyone can put anything here (with their own valid state): a 4xx, and a short log.
		return errAuthorizeError.with(fmt.Errorf("twitch authorize error %q", truncate(e)))
	}
	code := q.Get("code")
	if code == "" {
		return errBadCode
	}
	tctx, cancel := context.WithTimeout(ctx, twitchCallTimeout)
	defer cancel()
	tok, err := s.opt.Auth.Exchange(tctx, code)
	switch {
	case errors.Is(err, auth.ErrInvalidGrant):
		return errBadCode.with(err)
	case err != nil:
		return errLoginFailed.with(err)
	}
	v, err := s.opt.Auth.Validate(tctx, tok.AccessToken)
	if err != nil {
		return errLoginFailed.with(err)
	}
	// Fixation: the pre-login cookie token is replaced before anything of the user is stored.
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token: %w", err)
	}
	sid := s.sessions.GetString(ctx, keySessionID)
	var prev sessionUser
	if sid == "" || !s.getJSON(ctx, keyUser, &prev) || prev.ID != v.UserID {
		sid = newSessionID() // a new person in this browser gets a new relay session
		s.sessions.Remove(ctx, keyStreamer)
	}
	if err := s.tokens.put(ctx, sid, tok); err != nil {
		return fmt.Errorf("%w: store token: %v", errSessionStoreDown, err)
	}
	src, err := s.tokens.source(ctx, sid)
	if err != nil {
		return err
	}
	user := sessionUser{ID: v.UserID, Login: v.Login, DisplayName: v.Login}
	if us, err := s.opt.Helix.GetUsers(tctx, src, nil, []string{v.UserID}); err == nil && len(us) == 1 {
		user.DisplayName, user.ProfileImageURL = us[0].DisplayName, us[0].ProfileImageURL
	} else if err != nil {
		s.log.Warn("login: get user profile", "err", err) // the name from validate is enough to go on
	}
	s.sessions.Put(ctx, keySessionID, sid)
	s.putJSON(ctx, keyUser, user)
	s.sessions.Put(ctx, keyValidatedAt, time.Now().UnixNano())
	s.sessions.Remove(ctx, keyCSRF) // a fresh form token for the new session
	s.log.Info("login", "user_id", user.ID, "session", shortID(sid))
	http.Redirect(w, r, "/enter_streamer", http.StatusSeeOther)
	return nil
}
