package web

import (
	"context"
	"slices"

	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// maxFollowedSuggestions is how many followed channels the streamer form offers.
const maxFollowedSuggestions = 12

// followedChannel is a channel the logged-in user follows, as the streamer form offers it.
type followedChannel struct {
	Login, DisplayName, ProfileImageURL string
	Live                                bool
	Title                               string // the live stream's title
}

// followedChannels asks Twitch whom the user follows (the login grants user:read:follows),
// with their avatars and who is live: live channels first, then the most recent follows.
// The list is a convenience: when Twitch fails, the form goes without it.
func (s *Server) followedChannels(ctx context.Context, a *account) []followedChannel {
	ctx, cancel := context.WithTimeout(ctx, twitchCallTimeout)
	defer cancel()
	follows, err := s.opt.Helix.GetFollowedChannels(ctx, a.Token, a.User.ID, 100)
	if err != nil || len(follows) == 0 {
		if err != nil {
			s.log.Info("streamer form: followed channels", "session", shortID(a.SID), "err", err)
		}
		return nil
	}
	ids := make([]string, len(follows))
	for i, f := range follows {
		ids[i] = f.BroadcasterID
	}
	users, err := s.opt.Helix.GetUsers(ctx, a.Token, nil, ids)
	if err != nil {
		s.log.Info("streamer form: followed channels' users", "session", shortID(a.SID), "err", err)
	}
	streams, err := s.opt.Helix.GetStreams(ctx, a.Token, ids)
	if err != nil {
		s.log.Info("streamer form: followed channels' streams", "session", shortID(a.SID), "err", err)
	}
	byID := make(map[string]helix.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	live := make(map[string]helix.Stream, len(streams))
	for _, st := range streams {
		live[st.UserID] = st
	}
	out := make([]followedChannel, 0, len(follows))
	for _, f := range follows {
		c := followedChannel{Login: f.BroadcasterLogin, DisplayName: f.BroadcasterName}
		if u, ok := byID[f.BroadcasterID]; ok {
			c.DisplayName, c.ProfileImageURL = u.DisplayName, u.ProfileImageURL
		}
		if st, ok := live[f.BroadcasterID]; ok {
			c.Live, c.Title = true, st.Title
		}
		if c.DisplayName == "" {
			c.DisplayName = c.Login
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(x, y followedChannel) int { // live first, else Twitch's order
		switch {
		case x.Live == y.Live:
			return 0
		case x.Live:
			return -1
		}
		return 1
	})
	return out[:min(len(out), maxFollowedSuggestions)]
}
