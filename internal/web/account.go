package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// account is the logged-in person of a request.
type account struct {
	User  *sessionUser
	SID   string
	Token helix.TokenSource
}

// errRedirected means the helper already answered with a redirect.
var errRedirected = errors.New("redirected")

// requireLogin returns the logged-in account, redirecting to "/" when there is none. The
// user's token is validated with Twitch when this process has not done so within the hour;
// a token Twitch rejects ends the session.
func (s *Server) requireLogin(w http.ResponseWriter, r *http.Request) (*account, error) {
	ctx := r.Context()
	u := s.currentUser(ctx)
	if u == nil {
		to := "/"
		if _, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
			to = "/?ended=1" // a session cookie the store no longer knows: say so on the landing page
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil, errRedirected
	}
	a := &account{User: u, SID: s.sessions.GetString(ctx, keySessionID)}
	src, err := s.tokens.source(ctx, a.SID)
	if err != nil {
		if errors.Is(err, errSessionEnded) {
			s.endSession(ctx, a.SID, "token missing")
		}
		return nil, err
	}
	a.Token = src
	if s.needsValidation(ctx) {
		if err := s.validate(ctx, a.SID, src); err != nil {
			return nil, err
		}
		s.sessions.Put(ctx, keyValidatedAt, time.Now().UnixNano())
	}
	return a, nil
}

// validate asks Twitch whether the session's token is still good (refreshing it first if it
// expired). An invalid token or refresh token ends the session.
func (s *Server) validate(ctx context.Context, sid string, src helix.TokenSource) error {
	tctx, cancel := context.WithTimeout(ctx, twitchCallTimeout)
	defer cancel()
	tok, err := src.Token(tctx)
	if err == nil {
		_, err = s.opt.Auth.Validate(tctx, tok)
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		// Expired before our clock said so: refresh once, then ask again.
		src.Invalidate(tok)
		if tok, err = src.Token(tctx); err == nil {
			_, err = s.opt.Auth.Validate(tctx, tok)
		}
	}
	switch {
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrInvalidGrant):
		s.log.Info("token invalid: ending session", "session", shortID(sid), "err", err)
		s.endSession(ctx, sid, "token invalid")
		return errSessionEnded.with(err)
	case err != nil:
		if ae, ok := errors.AsType[*appError](err); ok { // e.g. a refreshed token we could not save
			return ae
		}
		return errTwitchDown.with(err)
	}
	return nil
}

// userCallFailed ends the session when Twitch no longer accepts the user's login (a Helix
// call with the user's token failed even after a refresh); other errors pass through.
func (s *Server) userCallFailed(ctx context.Context, a *account, err error) error {
	if errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, helix.ErrUnauthorized) {
		s.log.Info("user token refused by Twitch: ending session", "session", shortID(a.SID), "err", err)
		s.endSession(ctx, a.SID, "token invalid")
		return errSessionEnded.with(err)
	}
	return err
}

// endSession forgets everything of a relay session: subscriptions, token, hub history.
// The cookie session is destroyed too when ctx carries it.
func (s *Server) endSession(ctx context.Context, sid, reason string) {
	if sid == "" {
		return
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), twitchCallTimeout)
	defer cancel()
	if err := s.opt.Relay.UnsubscribeFromAllEvents(ectx, sid, reason); err != nil {
		s.log.Warn("end session: unsubscribe", "session", shortID(sid), "err", err)
	}
	if err := s.tokens.remove(ectx, sid); err != nil {
		s.log.Warn("end session: forget token", "session", shortID(sid), "err", err)
	}
	s.opt.Hub.Release(sid)
	if hasSession(ctx) { // not in background validation
		_ = s.sessions.Destroy(ctx)
	}
}

// shortID is how a session id appears in logs: a hash prefix, never the id itself.
func shortID(sid string) string {
	if sid == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:4])
}
