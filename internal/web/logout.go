package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

// POST /logout: unsubscribe everything, revoke the Twitch token, destroy the session.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ctx := r.Context()
	if s.currentUser(ctx) == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	if err := s.checkCSRF(r); err != nil {
		return err
	}
	sid := s.sessions.GetString(ctx, keySessionID)
	if tok, err := s.tokens.current(ctx, sid); err == nil {
		rctx, cancel := context.WithTimeout(ctx, twitchCallTimeout)
		if err := s.opt.Auth.Revoke(rctx, tok.AccessToken); err != nil && !errors.Is(err, auth.ErrInvalidToken) {
			s.log.Warn("logout: revoke token", "session", shortID(sid), "err", err)
		}
		cancel()
	}
	s.endSession(ctx, sid, "logout")
	s.log.Info("logout", "session", shortID(sid))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
