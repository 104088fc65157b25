package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/relay"
)

type feedView struct {
	Feed, Name, Status, Reason string
}

type streamPage struct {
	basePage
	Streamer  helix.User
	Live      bool
	Title     string
	Category  string
	PlayerURL string
	Feeds     []feedView
}

// feedNames are the feeds as the page names them.
var feedNames = map[string]string{
	"followed_by":    "New followers",
	"following":      "Channels they follow",
	"stream_changed": "Live, offline & title",
	"user_changed":   "Profile changes",
}

// feedOrder is the order feeds are shown in.
var feedOrder = []string{"followed_by", "stream_changed", "user_changed", "following"}

// GET /stream: the chosen streamer as Twitch has it now, and where live events appear.
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
	s.ensureSubscribed(a, st)
	p.Feeds = feedViews(s.opt.Relay.Statuses(a.SID))
	return s.render(w, r, "stream", p)
}

// ensureSubscribed starts the session's subscriptions in the background: the page never
// waits on Twitch's subscription calls; feed statuses arrive over the socket.
func (s *Server) ensureSubscribed(a *account, st *sessionStreamer) {
	sess := relay.Session{
		ID: a.SID, UserID: a.User.ID, UserLogin: a.User.Login, UserToken: a.Token,
		Streamer: relay.Streamer{ID: st.ID, Login: st.Login, DisplayName: st.DisplayName},
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
		defer cancel()
		if err := s.opt.Relay.Ensure(ctx, sess); err != nil {
			s.log.Warn("subscribe", "session", shortID(a.SID), "broadcaster_id", st.ID, "err", err)
		}
	}()
}

func feedViews(st []relay.FeedStatus) []feedView {
	byFeed := map[string]relay.FeedStatus{}
	for _, f := range st {
		byFeed[f.Feed] = f
	}
	out := make([]feedView, 0, len(feedOrder))
	for _, name := range feedOrder {
		f, ok := byFeed[name]
		if !ok {
			f = relay.FeedStatus{Feed: name, Status: "pending"}
		}
		out = append(out, feedView{Feed: name, Name: feedNames[name], Status: f.Status, Reason: f.Reason})
	}
	return out
}
