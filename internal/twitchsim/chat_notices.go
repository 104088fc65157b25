package twitchsim

import (
	"context"
	"fmt"
)

// Chat notices that change nothing in the world: announcements, bits badges, charity donations.

// Announce posts an announcement in broadcaster's chat by its broadcaster or a moderator;
// color is Twitch's (BLUE, GREEN, ORANGE, PURPLE, PRIMARY).
func (s *Sim) Announce(ctx context.Context, byLogin, broadcasterLogin, text, color string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.world.mustLogin(byLogin)
		if err != nil {
			return nil, err
		}
		if !s.world.isModerator(u.ID, b.ID) {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotModerator, u.Login, b.Login)
		}
		n := s.notice(b, u, "announcement", "", text)
		n.Announcement = &announceObj{Color: color}
		return []*chatNotice{n}, nil
	})
}

// BitsBadge delivers the bits_badge_tier notice of user reaching tier bits in broadcaster's
// channel.
func (s *Sim) BitsBadge(ctx context.Context, userLogin, broadcasterLogin string, tier int, message string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.world.mustLogin(userLogin)
		if err != nil {
			return nil, err
		}
		n := s.notice(b, u, "bits_badge_tier", fmt.Sprintf("%s just earned a new %d Bits badge!", u.DisplayName, tier), message)
		n.BitsBadgeTier = &bitsObj{Tier: tier}
		return []*chatNotice{n}, nil
	})
}

// CharityDonation delivers the charity_donation notice of user donating cents (in
// currency, 2 decimal places) to charity during broadcaster's campaign.
func (s *Sim) CharityDonation(ctx context.Context, userLogin, broadcasterLogin, charity string, cents int, currency string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.world.mustLogin(userLogin)
		if err != nil {
			return nil, err
		}
		n := s.notice(b, u, "charity_donation", fmt.Sprintf("%s: Donated %s %d.%02d to support %s", u.DisplayName, currency, cents/100, cents%100, charity), "")
		n.CharityDonation = &charityObj{CharityName: charity, Amount: charityMoney{Value: cents, DecimalPlaces: 2, Currency: currency}}
		return []*chatNotice{n}, nil
	})
}
