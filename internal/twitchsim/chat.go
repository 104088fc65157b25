package twitchsim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Errors of the chat notification triggers, for errors.Is.
var (
	ErrAlreadySubscribed = errors.New("twitchsim: already subscribed")
	ErrNotSubscribed     = errors.New("twitchsim: not subscribed")
	ErrNotGifted         = errors.New("twitchsim: the subscription was not a gift")
	ErrNotPrime          = errors.New("twitchsim: the subscription is not a Prime sub")
	ErrNotModerator      = errors.New("twitchsim: not the broadcaster or a moderator")
	ErrBadTier           = errors.New("twitchsim: tier must be 1000, 2000 or 3000")
)

// The anonymous gifter as Twitch names it in chat notifications.
const (
	anonymousID    = "274598607"
	anonymousLogin = "ananonymousgifter"
	anonymousName  = "AnAnonymousGifter"
)

// maxCrowd bounds the crowd users a community gift may create as recipients.
const maxCrowd = 2000

// ChannelSub is one user's subscription to one channel, as the world keeps it.
type ChannelSub struct {
	UserID           string `json:"user_id"`
	BroadcasterID    string `json:"broadcaster_id"`
	Tier             string `json:"tier"` // 1000, 2000, 3000
	Prime            bool   `json:"is_prime"`
	CumulativeMonths int    `json:"cumulative_months"`
	StreakMonths     int    `json:"streak_months"`
	Gift             bool   `json:"is_gift"`
	GifterID         string `json:"gifter_id,omitempty"` // "" for an anonymous gift
}

// chatNotice is channel.chat.notification v1's event (docs/TWITCH.md §5.2): every field,
// every per-type object null except the one of notice_type.
type chatNotice struct {
	broadcasterFields
	ChatterUserID              string        `json:"chatter_user_id"`
	ChatterUserLogin           string        `json:"chatter_user_login"`
	ChatterUserName            string        `json:"chatter_user_name"`
	ChatterIsAnonymous         bool          `json:"chatter_is_anonymous"`
	Color                      string        `json:"color"`
	Badges                     []chatBadge   `json:"badges"`
	SystemMessage              string        `json:"system_message"`
	MessageID                  string        `json:"message_id"`
	Message                    chatMessage   `json:"message"`
	NoticeType                 string        `json:"notice_type"`
	Sub                        *subObj       `json:"sub"`
	Resub                      *resubObj     `json:"resub"`
	SubGift                    *subGiftObj   `json:"sub_gift"`
	CommunitySubGift           *communityObj `json:"community_sub_gift"`
	GiftPaidUpgrade            *gifterObj    `json:"gift_paid_upgrade"`
	PrimePaidUpgrade           *primeObj     `json:"prime_paid_upgrade"`
	Raid                       *raidObj      `json:"raid"`
	Unraid                     *struct{}     `json:"unraid"`
	PayItForward               *gifterObj    `json:"pay_it_forward"`
	Announcement               *announceObj  `json:"announcement"`
	BitsBadgeTier              *bitsObj      `json:"bits_badge_tier"`
	CharityDonation            *charityObj   `json:"charity_donation"`
	SourceBroadcasterUserID    *string       `json:"source_broadcaster_user_id"`
	SourceBroadcasterUserLogin *string       `json:"source_broadcaster_user_login"`
	SourceBroadcasterUserName  *string       `json:"source_broadcaster_user_name"`
	SourceMessageID            *string       `json:"source_message_id"`
	SourceBadges               []chatBadge   `json:"source_badges"`
	SharedChatSub              *subObj       `json:"shared_chat_sub"`
	SharedChatResub            *resubObj     `json:"shared_chat_resub"`
	SharedChatSubGift          *subGiftObj   `json:"shared_chat_sub_gift"`
	SharedChatCommunitySubGift *communityObj `json:"shared_chat_community_sub_gift"`
	SharedChatGiftPaidUpgrade  *gifterObj    `json:"shared_chat_gift_paid_upgrade"`
	SharedChatPrimePaidUpgrade *primeObj     `json:"shared_chat_prime_paid_upgrade"`
	SharedChatRaid             *raidObj      `json:"shared_chat_raid"`
	SharedChatPayItForward     *gifterObj    `json:"shared_chat_pay_it_forward"`
	SharedChatAnnouncement     *announceObj  `json:"shared_chat_announcement"`
}

type chatBadge struct {
	SetID string `json:"set_id"`
	ID    string `json:"id"`
	Info  string `json:"info"`
}

type chatMessage struct {
	Text      string         `json:"text"`
	Fragments []chatFragment `json:"fragments"`
}

type chatFragment struct {
	Type      string `json:"type"`
	Text      string `json:"text"`
	Cheermote any    `json:"cheermote"`
	Emote     any    `json:"emote"`
	Mention   any    `json:"mention"`
}

type subObj struct {
	SubTier        string `json:"sub_tier"`
	IsPrime        bool   `json:"is_prime"`
	DurationMonths int    `json:"duration_months"`
}

type resubObj struct {
	CumulativeMonths  int     `json:"cumulative_months"`
	DurationMonths    int     `json:"duration_months"`
	StreakMonths      *int    `json:"streak_months"`
	SubTier           string  `json:"sub_tier"`
	IsPrime           bool    `json:"is_prime"`
	IsGift            bool    `json:"is_gift"`
	GifterIsAnonymous *bool   `json:"gifter_is_anonymous"`
	GifterUserID      *string `json:"gifter_user_id"`
	GifterUserLogin   *string `json:"gifter_user_login"`
	GifterUserName    *string `json:"gifter_user_name"`
}

type subGiftObj struct {
	DurationMonths     int     `json:"duration_months"`
	CumulativeTotal    *int    `json:"cumulative_total"`
	RecipientUserID    string  `json:"recipient_user_id"`
	RecipientUserLogin string  `json:"recipient_user_login"`
	RecipientUserName  string  `json:"recipient_user_name"`
	SubTier            string  `json:"sub_tier"`
	CommunityGiftID    *string `json:"community_gift_id"`
}

type communityObj struct {
	ID              string `json:"id"`
	Total           int    `json:"total"`
	SubTier         string `json:"sub_tier"`
	CumulativeTotal *int   `json:"cumulative_total"`
}

type gifterObj struct {
	GifterIsAnonymous bool    `json:"gifter_is_anonymous"`
	GifterUserID      *string `json:"gifter_user_id"`
	GifterUserLogin   *string `json:"gifter_user_login"`
	GifterUserName    *string `json:"gifter_user_name"`
}

type primeObj struct {
	SubTier string `json:"sub_tier"`
}

type raidObj struct {
	UserID          string `json:"user_id"`
	UserLogin       string `json:"user_login"`
	UserName        string `json:"user_name"`
	ViewerCount     int    `json:"viewer_count"`
	ProfileImageURL string `json:"profile_image_url"`
}

type announceObj struct {
	Color string `json:"color"`
}

type bitsObj struct {
	Tier int `json:"tier"`
}

type charityObj struct {
	CharityName string       `json:"charity_name"`
	Amount      charityMoney `json:"amount"`
}

type charityMoney struct {
	Value         int    `json:"value"`
	DecimalPlaces int    `json:"decimal_places"`
	Currency      string `json:"currency"`
}

// notice starts a chat notification in b's chat by chatter (nil: the anonymous gifter).
// Caller holds mu.
func (s *Sim) notice(b, chatter *User, typ, system, text string) *chatNotice {
	n := &chatNotice{broadcasterFields: broadcasterOf(b), Badges: []chatBadge{}, SystemMessage: system,
		MessageID: newUUID(), NoticeType: typ, Message: chatMessage{Text: text, Fragments: fragmentsOf(text)}}
	if chatter == nil {
		n.ChatterUserID, n.ChatterUserLogin, n.ChatterUserName, n.ChatterIsAnonymous = anonymousID, anonymousLogin, anonymousName, true
		return n
	}
	n.ChatterUserID, n.ChatterUserLogin, n.ChatterUserName = chatter.ID, chatter.Login, chatter.DisplayName
	if sub := s.world.subs[subKey(chatter.ID, b.ID)]; sub != nil {
		n.Badges = append(n.Badges, chatBadge{SetID: "subscriber", ID: "0", Info: strconv.Itoa(sub.CumulativeMonths)})
	}
	if s.world.isModerator(chatter.ID, b.ID) {
		id := "moderator"
		if chatter.ID == b.ID {
			id = "broadcaster"
		}
		n.Badges = append(n.Badges, chatBadge{SetID: id, ID: "1", Info: ""})
	}
	return n
}

// fragmentsOf splits text into Twitch's fragments, with the global emote "Kappa" as an
// emote fragment.
func fragmentsOf(text string) []chatFragment {
	out := []chatFragment{}
	for text != "" {
		i := indexWord(text, "Kappa")
		switch {
		case i < 0:
			out = append(out, chatFragment{Type: "text", Text: text})
			text = ""
		case i > 0:
			out = append(out, chatFragment{Type: "text", Text: text[:i]})
			text = text[i:]
		default:
			out = append(out, chatFragment{Type: "emote", Text: "Kappa", Emote: map[string]any{
				"id": "25", "emote_set_id": "0", "owner_id": "0", "format": []string{"static"}}})
			text = text[len("Kappa"):]
		}
	}
	return out
}

func indexWord(s, w string) int {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return i
		}
	}
	return -1
}

func subKey(userID, broadcasterID string) [2]string { return [2]string{userID, broadcasterID} }

func tierName(tier string) string {
	return "Tier " + tier[:1]
}

func checkTier(tier string) error {
	if !slices.Contains([]string{"1000", "2000", "3000"}, tier) {
		return fmt.Errorf("%w: %q", ErrBadTier, tier)
	}
	return nil
}

// chatEvent is a chat notification's delivery: to every reader of b's chat.
func chatEvent(b *User, n *chatNotice) simEvent {
	return simEvent{typ: eventsub.TypeChatNotification, userID: b.ID, event: n}
}

func ptr[T any](v T) *T { return &v }

// chatTrigger resolves the broadcaster and runs change under mu, delivering its notices.
func (s *Sim) chatTrigger(ctx context.Context, broadcasterLogin string, change func(b *User) ([]*chatNotice, error)) ([]Delivery, error) {
	return s.triggerMany(ctx, func() ([]simEvent, error) {
		b, err := s.world.mustLogin(broadcasterLogin)
		if err != nil {
			return nil, err
		}
		notices, err := change(b)
		if err != nil {
			return nil, err
		}
		events := make([]simEvent, 0, len(notices))
		for _, n := range notices {
			events = append(events, chatEvent(b, n))
		}
		return events, nil
	})
}

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
