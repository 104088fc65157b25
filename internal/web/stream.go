package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/relay"
)

type streamPage struct {
	basePage
	Streamer  helix.User
	Live      bool
	Title     string
	Category  string
	PlayerURL string
	Feeds     []relay.FeedStatus
	// FollowHint says, in the demo, whom to log in as to see this channel's follower events
	// (its broadcaster or a moderator), when the user is neither; "" otherwise.
	FollowHint string
}

// GET /stream: the chosen streamer as Twitch has it now, and where live events appear. It
// has no effect at Twitch (a prefetch or a crawler subscribes nothing): the page's socket
// starts the subscriptions with stream_connected.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireLogin(w, r)
	if err != nil {
		return ignoreRedirect(err)
	}
	st := s.currentStreamer(r.Context())
	if st == nil {
		http.Redirect(w, r, "/enter_streamer", http.StatusSeeOther)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), twitchCallTimeout)
	defer cancel()
	p := streamPage{basePage: s.base(r, st.DisplayName+" · live events")}
	users, err := s.opt.Helix.GetUsers(ctx, a.Token, nil, []string{st.ID})
	if err != nil {
		return s.userCallFailed(r.Context(), a, err)
	}
	if len(users) == 0 { // the channel was deleted or banned since it was chosen
		s.sessions.Remove(r.Context(), keyStreamer)
		http.Redirect(w, r, "/enter_streamer", http.StatusSeeOther)
		return nil
	}
	p.Streamer = users[0]
	streams, err := s.opt.Helix.GetStreams(ctx, a.Token, []string{st.ID})
	if err != nil {
		return s.userCallFailed(r.Context(), a, err)
	}
	if len(streams) > 0 {
		p.Live, p.Title, p.Category = true, streams[0].Title, streams[0].GameName
	} else {
		// Offline: the channel's title and category still say what the next stream is about,
		// and the went-live entry shows that title (stream.online carries none).
		chans, err := s.opt.Helix.GetChannels(ctx, a.Token, []string{st.ID})
		if err != nil {
			return s.userCallFailed(r.Context(), a, err)
		}
		if len(chans) > 0 {
			p.Title, p.Category = chans[0].Title, chans[0].GameName
		}
	}
	if !s.opt.Demo && s.opt.PublicURL != nil {
		q := url.Values{"channel": {p.Streamer.Login}, "parent": {s.opt.PublicURL.Hostname()}, "muted": {"true"}}
		p.PlayerURL = "https://player.twitch.tv/?" + q.Encode()
	}
	p.FollowHint = s.followHint(a.User.Login, p.Streamer)
	if p.Feeds = s.opt.Relay.Statuses(a.SID); p.Feeds == nil {
		p.Feeds = relay.Pending()
	}
	return s.render(w, r, "stream", p)
}

// followHint is the demo's answer to "why no follower events?": which simulated accounts
// moderate the channel (the streamer form lists them too).
func (s *Server) followHint(me string, streamer helix.User) string {
	mods, known := s.opt.SuggestionModerators[streamer.Login]
	isMe := func(m string) bool { return strings.EqualFold(m, me) }
	if !known || isMe(streamer.Login) || slices.ContainsFunc(mods, isMe) {
		return ""
	}
	switch len(mods) {
	case 0:
		return "Demo: nobody moderates " + streamer.DisplayName + ". Log in as " + streamer.Login + " to see its new followers."
	case 1:
		return "Demo: " + mods[0] + " moderates " + streamer.DisplayName + ". Log in as " + mods[0] + " (or " + streamer.Login + ") to see its new followers."
	}
	return "Demo: " + strings.Replace(orList(mods), " or ", " and ", 1) + " moderate " + streamer.DisplayName +
		". Log in as one of them (or " + streamer.Login + ") to see its new followers."
}
