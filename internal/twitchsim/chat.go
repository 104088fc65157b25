package twitchsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

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
