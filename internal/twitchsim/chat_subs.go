package twitchsim

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Subscriptions and gifts in chat: the sub, resub, sub_gift, community_sub_gift and upgrade
// notices, and the world's channel subscriptions they change.

// Subscribe makes user subscribe to broadcaster (tier 1000/2000/3000, or Prime, which is
// tier 1000) and delivers the sub notice.
func (s *Sim) Subscribe(ctx context.Context, userLogin, broadcasterLogin, tier string, prime bool) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.subscriber(userLogin, b, false)
		if err != nil {
			return nil, err
		}
		if prime {
			tier = "1000"
		}
		if err := checkTier(tier); err != nil {
			return nil, err
		}
		s.world.subs[subKey(u.ID, b.ID)] = &ChannelSub{UserID: u.ID, BroadcasterID: b.ID, Tier: tier, Prime: prime, CumulativeMonths: 1, StreakMonths: 1}
		how := "at " + tierName(tier)
		if prime {
			how = "with Prime"
		}
		n := s.notice(b, u, "sub", u.DisplayName+" subscribed "+how+".", "")
		n.Sub = &subObj{SubTier: tier, IsPrime: prime, DurationMonths: 1}
		return []*chatNotice{n}, nil
	})
}

// Resubscribe renews user's subscription to broadcaster for another month and delivers the
// resub notice with message (shareStreak: whether the streak is shown).
func (s *Sim) Resubscribe(ctx context.Context, userLogin, broadcasterLogin, message string, shareStreak bool) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.subscriber(userLogin, b, true)
		if err != nil {
			return nil, err
		}
		sub := s.world.subs[subKey(u.ID, b.ID)]
		sub.CumulativeMonths++
		sub.StreakMonths++
		system := fmt.Sprintf("%s subscribed at %s. They've subscribed for %d months", u.DisplayName, tierName(sub.Tier), sub.CumulativeMonths)
		if sub.Prime {
			system = fmt.Sprintf("%s subscribed with Prime. They've subscribed for %d months", u.DisplayName, sub.CumulativeMonths)
		}
		r := &resubObj{CumulativeMonths: sub.CumulativeMonths, DurationMonths: 1, SubTier: sub.Tier, IsPrime: sub.Prime, IsGift: sub.Gift}
		if shareStreak {
			r.StreakMonths = ptr(sub.StreakMonths)
			system += fmt.Sprintf(", currently on a %d month streak", sub.StreakMonths)
		}
		system += "!"
		if sub.Gift {
			r.GifterIsAnonymous = ptr(sub.GifterID == "")
			if g := s.world.users[sub.GifterID]; g != nil {
				r.GifterUserID, r.GifterUserLogin, r.GifterUserName = ptr(g.ID), ptr(g.Login), ptr(g.DisplayName)
			}
		}
		n := s.notice(b, u, "resub", system, message)
		n.Resub = r
		return []*chatNotice{n}, nil
	})
}

// subscriber is userLogin, who must (want) or must not (!want) be subscribed to b. Caller
// holds mu.
func (s *Sim) subscriber(userLogin string, b *User, want bool) (*User, error) {
	u, err := s.world.mustLogin(userLogin)
	if err != nil {
		return nil, err
	}
	_, subbed := s.world.subs[subKey(u.ID, b.ID)]
	switch {
	case want && !subbed:
		return nil, fmt.Errorf("%w: %s to %s", ErrNotSubscribed, u.Login, b.Login)
	case !want && subbed:
		return nil, fmt.Errorf("%w: %s to %s", ErrAlreadySubscribed, u.Login, b.Login)
	}
	return u, nil
}

// GiftSub makes gifter ("" = an anonymous gifter) gift a sub to recipient, who is not
// subscribed, and delivers the sub_gift notice.
func (s *Sim) GiftSub(ctx context.Context, gifterLogin, broadcasterLogin, recipientLogin, tier string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		if err := checkTier(tier); err != nil {
			return nil, err
		}
		g, err := s.gifter(gifterLogin)
		if err != nil {
			return nil, err
		}
		r, err := s.subscriber(recipientLogin, b, false)
		if err != nil {
			return nil, err
		}
		return []*chatNotice{s.giftLocked(b, g, r, tier, nil)}, nil
	})
}

func (s *Sim) gifter(login string) (*User, error) {
	if login == "" {
		return nil, nil
	}
	return s.world.mustLogin(login)
}

// giftLocked records a gifted sub and returns its sub_gift notice. Caller holds mu.
func (s *Sim) giftLocked(b, g, r *User, tier string, communityID *string) *chatNotice {
	sub := &ChannelSub{UserID: r.ID, BroadcasterID: b.ID, Tier: tier, CumulativeMonths: 1, StreakMonths: 1, Gift: true}
	who := "An anonymous user"
	var total *int
	if g != nil {
		sub.GifterID, who = g.ID, g.DisplayName
		s.world.gifted[subKey(g.ID, b.ID)]++
		if communityID == nil {
			total = ptr(s.world.gifted[subKey(g.ID, b.ID)])
		}
	}
	s.world.subs[subKey(r.ID, b.ID)] = sub
	n := s.notice(b, g, "sub_gift", fmt.Sprintf("%s gifted a %s sub to %s!", who, tierName(tier), r.DisplayName), "")
	n.SubGift = &subGiftObj{DurationMonths: 1, CumulativeTotal: total, RecipientUserID: r.ID, RecipientUserLogin: r.Login,
		RecipientUserName: r.DisplayName, SubTier: tier, CommunityGiftID: communityID}
	return n
}

// CommunityGift makes gifter ("" = an anonymous gifter) gift count subs to broadcaster's
// community: one community_sub_gift notice, then a sub_gift notice for each recipient, all
// with its id as community_gift_id. Recipients are users not subscribed to the channel; when
// the world has too few, crowd users (never listed by Users) are added, up to maxCrowd.
func (s *Sim) CommunityGift(ctx context.Context, gifterLogin, broadcasterLogin string, count int, tier string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		if err := checkTier(tier); err != nil {
			return nil, err
		}
		if count < 1 || count > 100 {
			return nil, fmt.Errorf("twitchsim: a community gift is 1 to 100 subs, not %d", count)
		}
		g, err := s.gifter(gifterLogin)
		if err != nil {
			return nil, err
		}
		id := strconv.FormatUint(s.rng.Uint64(), 10)
		who, total := "An anonymous user", (*int)(nil)
		if g != nil {
			who, total = g.DisplayName, ptr(s.world.gifted[subKey(g.ID, b.ID)]+count)
		}
		system := fmt.Sprintf("%s is gifting %d %s Subs to %s's community!", who, count, tierName(tier), b.DisplayName)
		if total != nil {
			system += fmt.Sprintf(" They've gifted a total of %d in the channel!", *total)
		}
		summary := s.notice(b, g, "community_sub_gift", system, "")
		summary.CommunitySubGift = &communityObj{ID: id, Total: count, SubTier: tier, CumulativeTotal: total}
		out := []*chatNotice{summary}
		for _, r := range s.recipients(b, g, count) {
			out = append(out, s.giftLocked(b, g, r, tier, ptr(id)))
		}
		return out, nil
	})
}

// recipients picks up to n users not subscribed to b (never the gifter or b), adding crowd
// users when needed. Caller holds mu.
func (s *Sim) recipients(b, g *User, n int) []*User {
	var out []*User
	ok := func(u *User) bool {
		_, subbed := s.world.subs[subKey(u.ID, b.ID)]
		return !subbed && u.ID != b.ID && (g == nil || u.ID != g.ID)
	}
	for _, id := range slices.Concat(s.world.order, s.world.crowd) {
		if len(out) == n {
			return out
		}
		if u := s.world.users[id]; ok(u) {
			out = append(out, u)
		}
	}
	for len(out) < n && len(s.world.crowd) < maxCrowd {
		k := len(s.world.crowd) + 1
		u := &User{ID: strconv.Itoa(300000 + k), Login: fmt.Sprintf("viewer_%04d", k), DisplayName: fmt.Sprintf("Viewer_%04d", k),
			Email: fmt.Sprintf("viewer_%04d@example.com", k), CreatedAt: s.now().UTC(), Channel: Channel{Language: "en", ContentClassificationLabels: []string{}}}
		s.world.users[u.ID] = u
		s.world.byLogin[u.Login] = u.ID
		s.world.crowd = append(s.world.crowd, u.ID)
		out = append(out, u)
	}
	return out
}

// GiftPaidUpgrade: user, whose sub to broadcaster was a gift, continues it paying, and the
// gift_paid_upgrade notice names the gifter (or the anonymous gifter).
func (s *Sim) GiftPaidUpgrade(ctx context.Context, userLogin, broadcasterLogin string) ([]Delivery, error) {
	return s.gifterNotice(ctx, userLogin, broadcasterLogin, "gift_paid_upgrade")
}

// PayItForward: user, whose sub to broadcaster was a gift, pays it forward; the
// pay_it_forward notice names the original gifter.
func (s *Sim) PayItForward(ctx context.Context, userLogin, broadcasterLogin string) ([]Delivery, error) {
	return s.gifterNotice(ctx, userLogin, broadcasterLogin, "pay_it_forward")
}

func (s *Sim) gifterNotice(ctx context.Context, userLogin, broadcasterLogin, typ string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		u, err := s.subscriber(userLogin, b, true)
		if err != nil {
			return nil, err
		}
		sub := s.world.subs[subKey(u.ID, b.ID)]
		if !sub.Gift {
			return nil, fmt.Errorf("%w: %s to %s", ErrNotGifted, u.Login, b.Login)
		}
		obj := &gifterObj{GifterIsAnonymous: sub.GifterID == ""}
		from := "an anonymous user"
		if g := s.world.users[sub.GifterID]; g != nil {
			obj.GifterUserID, obj.GifterUserLogin, obj.GifterUserName, from = ptr(g.ID), ptr(g.Login), ptr(g.DisplayName), g.DisplayName
		}
		var n *chatNotice
		if typ == "gift_paid_upgrade" {
			sub.Gift, sub.GifterID = false, ""
			n = s.notice(b, u, typ, fmt.Sprintf("%s is continuing the Gift Sub they got from %s!", u.DisplayName, from), "")
			n.GiftPaidUpgrade = obj
		} else {
			n = s.notice(b, u, typ, fmt.Sprintf("%s is paying forward the Gift they got from %s to the community!", u.DisplayName, from), "")
			n.PayItForward = obj
		}
		return []*chatNotice{n}, nil
	})
}

// PrimePaidUpgrade: user's Prime sub to broadcaster becomes a paid sub of tier.
func (s *Sim) PrimePaidUpgrade(ctx context.Context, userLogin, broadcasterLogin, tier string) ([]Delivery, error) {
	return s.chatTrigger(ctx, broadcasterLogin, func(b *User) ([]*chatNotice, error) {
		if err := checkTier(tier); err != nil {
			return nil, err
		}
		u, err := s.subscriber(userLogin, b, true)
		if err != nil {
			return nil, err
		}
		sub := s.world.subs[subKey(u.ID, b.ID)]
		if !sub.Prime {
			return nil, fmt.Errorf("%w: %s to %s", ErrNotPrime, u.Login, b.Login)
		}
		sub.Prime, sub.Tier = false, tier
		n := s.notice(b, u, "prime_paid_upgrade", fmt.Sprintf("%s converted from a Prime sub to a %s sub!", u.DisplayName, tierName(tier)), "")
		n.PrimePaidUpgrade = &primeObj{SubTier: tier}
		return []*chatNotice{n}, nil
	})
}

// ChannelSubs returns the world's channel subscriptions of a broadcaster.
func (s *Sim) ChannelSubs(broadcasterLogin string) []ChannelSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.world.byLoginName(broadcasterLogin)
	if !ok {
		return nil
	}
	var out []ChannelSub
	for _, sub := range s.world.subs {
		if sub.BroadcasterID == b.ID {
			out = append(out, *sub)
		}
	}
	slices.SortFunc(out, func(a, b ChannelSub) int { return compareIDs(a.UserID, b.UserID) })
	return out
}

// compareIDs orders numeric ids as numbers: shorter first, then by digits.
func compareIDs(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
