package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// ValidLogin matches Twitch logins as the streamer form accepts them: 4-25 letters, digits, underscores.
var validLogin = regexp.MustCompile(`^[A-Za-z0-9_]{4,25}$`)

// ValidStreamerLogin reports whether s could be a Twitch login.
func ValidStreamerLogin(s string) bool { return validLogin.MatchString(s) }

type streamerPage struct {
	basePage
	Value       string
	Error       string
	Suggestions []string
}

// GET /enter_streamer: the "choose streamer" form.
func (s *Server) handleStreamerForm(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireLogin(w, r); err != nil {
		return ignoreRedirect(err)
	}
	p := streamerPage{basePage: s.base(r, "Choose a streamer"), Suggestions: s.opt.Suggestions}
	if st := s.currentStreamer(r.Context()); st != nil {
		p.Value = st.Login
	}
	return s.render(w, r, "enter_streamer", p)
}

// POST /enter_streamer: validate the login, resolve it with Helix, remember it, go to /stream.
func (s *Server) handleStreamerSubmit(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	a, err := s.requireLogin(w, r)
	if err != nil {
		return ignoreRedirect(err)
	}
	if err := s.checkCSRF(r); err != nil {
		return err
	}
	login := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("streamer")), "@"))
	page := func(msg string) error {
		p := streamerPage{basePage: s.base(r, "Choose a streamer"), Value: login, Error: msg, Suggestions: s.opt.Suggestions}
		return s.renderStatus(w, r, http.StatusUnprocessableEntity, "enter_streamer", p)
	}
	if !ValidStreamerLogin(login) {
		return page("That is not a Twitch name: use 4 to 25 letters, digits or underscores.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), twitchCallTimeout)
	defer cancel()
	u, err := s.opt.Helix.GetUserByLogin(ctx, a.Token, login)
	switch {
	case errors.Is(err, helix.ErrNotFound):
		return page("No Twitch channel is called “" + login + "”. Check the spelling and try again.")
	case err != nil:
		return s.userCallFailed(r.Context(), a, err)
	}
	if old := s.currentStreamer(r.Context()); old != nil && old.ID != u.ID {
		// A new streamer: the old one's subscriptions go now, not at lease end.
		if err := s.opt.Relay.UnsubscribeFromAllEvents(ctx, a.SID, "streamer changed"); err != nil {
			s.log.Warn("streamer change: unsubscribe", "session", shortID(a.SID), "err", err)
		}
	}
	s.putJSON(r.Context(), keyStreamer, sessionStreamer{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName, ProfileImageURL: u.ProfileImageURL})
	http.Redirect(w, r, "/stream", http.StatusSeeOther)
	return nil
}

func ignoreRedirect(err error) error {
	if errors.Is(err, errRedirected) {
		return nil
	}
	return err
}
