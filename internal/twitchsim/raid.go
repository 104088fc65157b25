package twitchsim

import (
	"context"
	"fmt"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// raidEvent is channel.raid v1's event.
type raidEvent struct {
	FromBroadcasterUserID    string `json:"from_broadcaster_user_id"`
	FromBroadcasterUserLogin string `json:"from_broadcaster_user_login"`
	FromBroadcasterUserName  string `json:"from_broadcaster_user_name"`
	ToBroadcasterUserID      string `json:"to_broadcaster_user_id"`
	ToBroadcasterUserLogin   string `json:"to_broadcaster_user_login"`
	ToBroadcasterUserName    string `json:"to_broadcaster_user_name"`
	Viewers                  int    `json:"viewers"`
}

// Raid sends from's live audience to to: channel.raid to the subscriptions naming either
// channel, and the raid notice in to's chat. from must be live; all but a tenth of its
// viewers move to to's stream if to is live. A channel cannot raid itself.
func (s *Sim) Raid(ctx context.Context, fromLogin, toLogin string) ([]Delivery, error) {
	return s.triggerMany(ctx, func() ([]simEvent, error) {
		from, err := s.world.mustLogin(fromLogin)
		if err != nil {
			return nil, err
		}
		to, err := s.world.mustLogin(toLogin)
		if err != nil {
			return nil, err
		}
		if from.ID == to.ID {
			return nil, fmt.Errorf("twitchsim: %s cannot raid itself", from.Login)
		}
		if from.Stream == nil {
			return nil, fmt.Errorf("%w: %s cannot raid", ErrNotLive, from.Login)
		}
		// The audience moves: a few stay behind, the rest join to's stream if it is live.
		viewers := from.Stream.ViewerCount
		from.Stream.ViewerCount = max(1, viewers/10)
		if to.Stream != nil {
			to.Stream.ViewerCount += viewers - from.Stream.ViewerCount
		}
		ev := raidEvent{from.ID, from.Login, from.DisplayName, to.ID, to.Login, to.DisplayName, viewers}
		n := s.notice(to, from, "raid", fmt.Sprintf("%d raiders from %s have joined!", viewers, from.DisplayName), "")
		n.Raid = &raidObj{UserID: from.ID, UserLogin: from.Login, UserName: from.DisplayName, ViewerCount: viewers,
			ProfileImageURL: from.ProfileImageURL}
		return []simEvent{
			{typ: eventsub.TypeChannelRaid, userID: to.ID, event: ev, match: func(c eventsub.Condition) bool {
				return c["from_broadcaster_user_id"] == from.ID || c["to_broadcaster_user_id"] == to.ID
			}},
			chatEvent(to, n),
		}, nil
	})
}

// Unraid delivers the unraid notice in from's chat: its broadcaster cancelled a raid
// before it went out (nothing else changes).
func (s *Sim) Unraid(ctx context.Context, fromLogin string) ([]Delivery, error) {
	return s.chatTrigger(ctx, fromLogin, func(b *User) ([]*chatNotice, error) {
		n := s.notice(b, b, "unraid", "The raid has been canceled.", "")
		n.Unraid = &struct{}{}
		return []*chatNotice{n}, nil
	})
}
