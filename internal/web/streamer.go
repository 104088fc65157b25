package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// ValidLogin matches Twitch logins as the streamer form accepts them: 4-25 letters, digits, underscores.
var validLogin = regexp.MustCompile(`^[A-Za-z0-9_]{4,25}$`)

// ValidStreamerLogin reports whether s could be a Twitch login.
func ValidStreamerLogin(s string) bool { return validLogin.MatchString(s) }

// StreamerLogin turns what people type or paste into the streamer field into the login to
// check with ValidStreamerLogin: surrounding space goes, "@name" loses its @, a channel link
// ("https://www.twitch.tv/name", "twitch.tv/name/videos?filter=all", m.twitch.tv) becomes its
// first path segment, and the result is lower case.
func StreamerLogin(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	rest, link := strings.CutPrefix(s, "https://")
	if !link {
		rest, link = strings.CutPrefix(s, "http://")
	}
	for _, host := range []string{"www.twitch.tv/", "m.twitch.tv/", "twitch.tv/"} {
		if after, ok := strings.CutPrefix(rest, host); ok {
			if i := strings.IndexAny(after, "/?#"); i >= 0 {
				after = after[:i]
			}
			return strings.TrimPrefix(after, "@")
		}
	}
	if link { // a link to somewhere else: not a name
		return s
	}
	return strings.TrimPrefix(s, "@")
}

type streamerPage struct {
	basePage
	Value       string
	Error       string
	Following   []followedChannel // channels the user follows, live ones first (GET only)
	Suggestions []suggestion
	NoFollowers []moderatedBy // no suggestion shows this user follower events: whom to log in as
}

// suggestion is a channel the form offers. Followers says why it shows the logged-in user
// follower events (channel.follow needs the broadcaster or a moderator), "" when it does not
// or nobody knows.
type suggestion struct {
	Login     string
	Followers string
}

// moderatedBy is a suggested channel and its moderators, in words.
type moderatedBy struct{ Channel, Moderators string }

// streamerPage is the form for the logged-in user, with the suggestions that show them
// follower events marked; when the moderators are known (demo) and none does, it says whom to
// log in as instead.
func (s *Server) streamerPage(r *http.Request, value, msg string) streamerPage {
	p := streamerPage{basePage: s.base(r, "Choose a streamer"), Value: value, Error: msg}
	me := ""
	if p.User != nil {
		me = p.User.Login
	}
	mods := s.opt.SuggestionModerators
	isMe := func(login string) bool { return me != "" && strings.EqualFold(login, me) }
	some := false
	for _, login := range s.opt.Suggestions {
		sg := suggestion{Login: login}
		switch {
		case isMe(login):
			sg.Followers = "your channel"
		case slices.ContainsFunc(mods[login], isMe):
			sg.Followers = "you moderate it"
		}
		some = some || sg.Followers != ""
		p.Suggestions = append(p.Suggestions, sg)
	}
	if mods != nil && !some {
		for _, sg := range p.Suggestions {
			if m := mods[sg.Login]; len(m) > 0 {
				p.NoFollowers = append(p.NoFollowers, moderatedBy{Channel: sg.Login, Moderators: orList(m)})
			}
		}
	}
	return p
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// GET /enter_streamer: the "choose streamer" form, with the channels the user follows.
func (s *Server) handleStreamerForm(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireLogin(w, r)
	if err != nil {
		return ignoreRedirect(err)
	}
	var value string
	if st := s.currentStreamer(r.Context()); st != nil {
		value = st.Login
	}
	p := s.streamerPage(r, value, "")
	p.Following = s.followedChannels(r.Context(), a)
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
	login := StreamerLogin(r.PostFormValue("streamer"))
	page := func(msg string) error {
		return s.renderStatus(w, r, http.StatusUnprocessableEntity, "enter_streamer", s.streamerPage(r, login, msg))
	}
	if !ValidStreamerLogin(login) {
		return page("That is not a Twitch name: use 4 to 25 letters, digits or underscores.")
	}
	if cur := s.currentStreamer(r.Context()); cur == nil || cur.Login != login {
		// A change costs the shared Helix budget: bounded per session and per Twitch user.
		tctx, cancel := context.WithTimeout(r.Context(), throttleTimeout)
		ok, retry, err := s.streamerChanges.Take(tctx, "sid:"+a.SID, "user:"+a.User.ID)
		cancel()
		switch {
		case err != nil:
			return errThrottleUnavailable.with(fmt.Errorf("web: streamer change throttle: %w", err))
		case !ok:
			return errTooManyChanges(s.opt.StreamerChanges, retry)
		}
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
		// A new streamer: the old one's subscriptions go now, not at lease end. The tabs
		// still showing the old one are closed with closeChanged (the page reloads), and the
		// session's history and feed statuses, all of the old streamer, are dropped: a page
		// only ever shows events of the streamer it shows.
		if err := s.opt.Relay.UnsubscribeFromAllEvents(ctx, a.SID, "streamer changed"); err != nil {
			s.log.Warn("streamer change: unsubscribe", "session", shortID(a.SID), "err", err)
		}
		s.open.streamerChanged(a.SID, u.ID)
		s.opt.Hub.Release(a.SID)
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
