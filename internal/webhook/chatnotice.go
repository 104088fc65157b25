package webhook

import (
	"fmt"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Notice types of channel.chat.notification v1 (docs/TWITCH.md §5.2). In a shared chat
// session the same notices from another channel arrive as "shared_chat_" + the type, with
// the object under that name; Notice.Type is then the plain type and Notice.Shared is set.
const (
	NoticeSub              = "sub"
	NoticeResub            = "resub"
	NoticeSubGift          = "sub_gift"
	NoticeCommunitySubGift = "community_sub_gift"
	NoticeGiftPaidUpgrade  = "gift_paid_upgrade"
	NoticePrimePaidUpgrade = "prime_paid_upgrade"
	NoticePayItForward     = "pay_it_forward"
	NoticeRaid             = "raid"
	NoticeUnraid           = "unraid"
	NoticeAnnouncement     = "announcement"
	NoticeBitsBadgeTier    = "bits_badge_tier"
	NoticeCharityDonation  = "charity_donation"
	// NoticeSystemMessage is what an unknown (newer) notice type becomes: the page shows
	// Twitch's system_message.
	NoticeSystemMessage = "system_message"

	sharedChatPrefix = "shared_chat_"
)

// AnonymousGifter is how an anonymous chatter or gifter is named.
const AnonymousGifter = "An anonymous gifter"

// Notice is a chat notification, normalised: what the page needs to render one entry.
// Strings are plain text (text()); numbers are 0 when Twitch sent null or nothing.
type Notice struct {
	Type      string `json:"type"`             // a Notice* constant
	Shared    bool   `json:"shared,omitempty"` // it happened in another channel of a shared chat
	Source    *Actor `json:"source,omitempty"` // that channel
	System    string `json:"system_message"`   // what Twitch's chat shows
	Text      string `json:"text,omitempty"`   // the chatter's own message; emotes as their text
	Anonymous bool   `json:"anonymous,omitempty"`

	Tier   string `json:"tier,omitempty"`   // "1", "2", "3"; "prime" for a Prime sub
	Months int    `json:"months,omitempty"` // cumulative months (resub)
	Streak int    `json:"streak,omitempty"` // months in a row, if shared (resub)
	Paid   int    `json:"paid,omitempty"`   // months bought at once (sub, resub, sub_gift)

	Gifter          *Actor `json:"gifter,omitempty"` // resub, gift_paid_upgrade, pay_it_forward
	GifterAnonymous bool   `json:"gifter_anonymous,omitempty"`
	Recipient       *Actor `json:"recipient,omitempty"` // sub_gift
	GiftID          string `json:"gift_id,omitempty"`   // community gift: the summary's id, shared by its sub_gifts
	Total           int    `json:"total,omitempty"`     // community gift size
	GifterTotal     int    `json:"gifter_total,omitempty"`

	Raider  *Actor `json:"raider,omitempty"`  // raid
	Viewers int    `json:"viewers,omitempty"` // raid

	Color    string `json:"color,omitempty"`     // announcement: blue, green, orange, purple or primary
	BitsTier int    `json:"bits_tier,omitempty"` // bits_badge_tier
	Charity  string `json:"charity,omitempty"`   // charity_donation
	Amount   string `json:"amount,omitempty"`    // "5.00 USD"
}

// chatNotification is the event of channel.chat.notification v1, every documented field.
// The per-type objects are decoded one by one (noticeObject), so one that does not match
// its documented shape costs only its details, not the whole notification.
type chatNotification struct {
	BroadcasterUserID    string `json:"broadcaster_user_id"`
	BroadcasterUserLogin string `json:"broadcaster_user_login"`
	BroadcasterUserName  string `json:"broadcaster_user_name"`
	ChatterUserID        string `json:"chatter_user_id"`
	ChatterUserLogin     string `json:"chatter_user_login"`
	ChatterUserName      string `json:"chatter_user_name"`
	ChatterIsAnonymous   bool   `json:"chatter_is_anonymous"`
	Color                string `json:"color"`
	SystemMessage        string `json:"system_message"`
	MessageID            string `json:"message_id"`
	Message              struct {
		Text      string `json:"text"`
		Fragments []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"fragments"`
	} `json:"message"`
	NoticeType              string `json:"notice_type"`
	SourceBroadcasterUserID string `json:"source_broadcaster_user_id"`
	SourceBroadcasterLogin  string `json:"source_broadcaster_user_login"`
	SourceBroadcasterName   string `json:"source_broadcaster_user_name"`
	SourceMessageID         string `json:"source_message_id"`
}

// noticeObject holds the fields of every per-type object (sub, resub, sub_gift, ...).
type noticeObject struct {
	SubTier           string `json:"sub_tier"`
	IsPrime           bool   `json:"is_prime"`
	IsGift            bool   `json:"is_gift"`
	DurationMonths    int    `json:"duration_months"`
	CumulativeMonths  int    `json:"cumulative_months"`
	StreakMonths      *int   `json:"streak_months"`
	CumulativeTotal   *int   `json:"cumulative_total"`
	GifterIsAnonymous bool   `json:"gifter_is_anonymous"`
	GifterUserID      string `json:"gifter_user_id"`
	GifterUserLogin   string `json:"gifter_user_login"`
	GifterUserName    string `json:"gifter_user_name"`
	RecipientUserID   string `json:"recipient_user_id"`
	RecipientLogin    string `json:"recipient_user_login"`
	RecipientName     string `json:"recipient_user_name"`
	CommunityGiftID   string `json:"community_gift_id"`
	ID                string `json:"id"`
	Total             int    `json:"total"`
	UserID            string `json:"user_id"`
	UserLogin         string `json:"user_login"`
	UserName          string `json:"user_name"`
	ViewerCount       int    `json:"viewer_count"`
	Color             string `json:"color"`
	Tier              int    `json:"tier"`
	CharityName       string `json:"charity_name"`
	Amount            *struct {
		Value         int64  `json:"value"`
		DecimalPlaces int    `json:"decimal_places"`
		Currency      string `json:"currency"`
	} `json:"amount"`
}

// DecodeChatNotification turns a channel.chat.notification event into the chatter (who
// the entry is about), its Notice and a one-line summary. An unknown notice type, or a
// known one whose object is missing or malformed, becomes NoticeSystemMessage with
// Twitch's system_message. Only an event that is not a JSON object is an error.
func DecodeChatNotification(raw []byte) (Actor, Notice, string, error) {
	var cn chatNotification
	if err := jsonv2.Unmarshal(raw, &cn, jsonOptions); err != nil {
		return Actor{}, Notice{}, "", err
	}
	var objects map[string]jsontext.Value
	if err := jsonv2.Unmarshal(raw, &objects, jsonOptions); err != nil {
		return Actor{}, Notice{}, "", err
	}
	chatter := cleanActor(Actor{ID: cn.ChatterUserID, Login: cn.ChatterUserLogin, Name: cn.ChatterUserName})
	n := Notice{Type: text(cn.NoticeType), System: text(cn.SystemMessage), Text: messageText(&cn), Anonymous: cn.ChatterIsAnonymous}
	if n.Anonymous {
		chatter = Actor{Name: AnonymousGifter}
	}
	objName, orig := n.Type, n.Type
	if base, ok := strings.CutPrefix(n.Type, sharedChatPrefix); ok {
		n.Type, n.Shared = base, true
		if cn.SourceBroadcasterUserID != "" {
			src := cleanActor(Actor{ID: cn.SourceBroadcasterUserID, Login: cn.SourceBroadcasterLogin, Name: cn.SourceBroadcasterName})
			n.Source = &src
		}
	}
	var o noticeObject
	rawObj, present := objects[objName]
	if !known(n.Type) || !present || rawObj.Kind() != '{' || jsonv2.Unmarshal(rawObj, &o, jsonOptions) != nil {
		n.Type = NoticeSystemMessage
		return chatter, n, systemSummary(chatter, n.System, orig), nil
	}
	fill(&n, &o)
	return chatter, n, summary(chatter, n), nil
}

func known(typ string) bool {
	switch typ {
	case NoticeSub, NoticeResub, NoticeSubGift, NoticeCommunitySubGift, NoticeGiftPaidUpgrade, NoticePrimePaidUpgrade,
		NoticePayItForward, NoticeRaid, NoticeUnraid, NoticeAnnouncement, NoticeBitsBadgeTier, NoticeCharityDonation:
		return true
	}
	return false
}

// messageText is the chatter's message as plain text: the fragments' texts (an emote's or a
// cheermote's text is its name), else message.text.
func messageText(cn *chatNotification) string {
	if len(cn.Message.Fragments) == 0 {
		return text(cn.Message.Text)
	}
	var b strings.Builder
	for _, f := range cn.Message.Fragments {
		b.WriteString(f.Text)
	}
	return text(b.String())
}

func fill(n *Notice, o *noticeObject) {
	gifter := func() {
		n.GifterAnonymous = o.GifterIsAnonymous
		if o.GifterIsAnonymous {
			n.Gifter = &Actor{Name: AnonymousGifter}
		} else if o.GifterUserID != "" || o.GifterUserLogin != "" || o.GifterUserName != "" {
			g := cleanActor(Actor{ID: o.GifterUserID, Login: o.GifterUserLogin, Name: o.GifterUserName})
			n.Gifter = &g
		}
	}
	switch n.Type {
	case NoticeSub:
		n.Tier, n.Paid = tier(o.SubTier, o.IsPrime), o.DurationMonths
	case NoticeResub:
		n.Tier, n.Paid, n.Months = tier(o.SubTier, o.IsPrime), o.DurationMonths, o.CumulativeMonths
		if o.StreakMonths != nil {
			n.Streak = *o.StreakMonths
		}
		if o.IsGift {
			gifter()
		}
	case NoticeSubGift:
		n.Tier, n.Paid, n.GiftID = tier(o.SubTier, false), o.DurationMonths, text(o.CommunityGiftID)
		r := cleanActor(Actor{ID: o.RecipientUserID, Login: o.RecipientLogin, Name: o.RecipientName})
		n.Recipient = &r
		if o.CumulativeTotal != nil {
			n.GifterTotal = *o.CumulativeTotal
		}
	case NoticeCommunitySubGift:
		n.Tier, n.GiftID, n.Total = tier(o.SubTier, false), text(o.ID), o.Total
		if o.CumulativeTotal != nil {
			n.GifterTotal = *o.CumulativeTotal
		}
	case NoticeGiftPaidUpgrade, NoticePayItForward:
		gifter()
	case NoticePrimePaidUpgrade:
		n.Tier = tier(o.SubTier, false)
	case NoticeRaid:
		r := cleanActor(Actor{ID: o.UserID, Login: o.UserLogin, Name: o.UserName})
		n.Raider, n.Viewers = &r, o.ViewerCount
	case NoticeAnnouncement:
		n.Color = announcementColor(o.Color)
	case NoticeBitsBadgeTier:
		n.BitsTier = o.Tier
	case NoticeCharityDonation:
		n.Charity = text(o.CharityName)
		if o.Amount != nil {
			n.Amount = money(o.Amount.Value, o.Amount.DecimalPlaces, text(o.Amount.Currency))
		}
	}
}

// tier is "1", "2" or "3" from Twitch's "1000"/"2000"/"3000", "prime" for a Prime sub.
func tier(subTier string, prime bool) string {
	if prime {
		return "prime"
	}
	switch subTier {
	case "1000":
		return "1"
	case "2000":
		return "2"
	case "3000":
		return "3"
	}
	return ""
}

// announcementColor is Twitch's colour in lower case if it is one of the documented ones
// (the case varies between sources), else "primary" (the channel's accent colour).
func announcementColor(c string) string {
	switch c = strings.ToLower(c); c {
	case "blue", "green", "orange", "purple":
		return c
	}
	return "primary"
}

// money formats an amount of minor units: 500, 2, "USD" is "5.00 USD".
func money(value int64, decimals int, currency string) string {
	if decimals < 0 || decimals > 8 {
		decimals = 0
	}
	neg := value < 0
	digits := strconv.FormatUint(absUint(value), 10)
	for len(digits) <= decimals {
		digits = "0" + digits
	}
	s := digits
	if decimals > 0 {
		s = digits[:len(digits)-decimals] + "." + digits[len(digits)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return strings.TrimSpace(s + " " + currency)
}

func absUint(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

func tierWords(t string) string {
	switch t {
	case "prime":
		return "with Prime"
	case "":
		return ""
	}
	return "at Tier " + t
}

func tierSub(t string) string {
	if t == "" || t == "prime" {
		return "sub"
	}
	return "Tier " + t + " sub"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// summary is the notice in one line of plain words (the page renders from Notice and shows
// this where it cannot).
func summary(who Actor, n Notice) string {
	w := name(who)
	var s string
	switch n.Type {
	case NoticeSub:
		s = join(w, "subscribed", tierWords(n.Tier))
		if n.Paid > 1 {
			s += " for " + plural(n.Paid, "month", "months")
		}
	case NoticeResub:
		s = join(w, "resubscribed", tierWords(n.Tier))
		if n.Months > 0 {
			s += ": " + plural(n.Months, "month", "months")
			if n.Streak > 0 {
				s += ", " + strconv.Itoa(n.Streak) + " in a row"
			}
		}
		if n.Gifter != nil {
			s += " (gifted by " + name(*n.Gifter) + ")"
		}
	case NoticeSubGift:
		s = w + " gifted a " + tierSub(n.Tier) + " to " + name(*n.Recipient)
	case NoticeCommunitySubGift:
		s = w + " gifted " + plural(n.Total, tierSub(n.Tier), tierSub(n.Tier)+"s") + " to the community"
	case NoticeGiftPaidUpgrade:
		s = w + " is continuing the gift sub they got from " + gifterName(n)
	case NoticePrimePaidUpgrade:
		s = w + " upgraded their Prime sub to a " + tierSub(n.Tier)
	case NoticePayItForward:
		s = w + " is paying forward the gift they got from " + gifterName(n)
	case NoticeRaid:
		s = name(*n.Raider) + " is raiding with " + plural(n.Viewers, "viewer", "viewers")
	case NoticeUnraid:
		s = "The raid was cancelled"
	case NoticeAnnouncement:
		s = "Announcement from " + w
		if n.Text != "" {
			s += ": " + n.Text
		}
		return s
	case NoticeBitsBadgeTier:
		s = w + " unlocked the " + strconv.Itoa(n.BitsTier) + " bits badge"
	case NoticeCharityDonation:
		s = join(w, "donated", n.Amount) + " to " + orElse(n.Charity, "charity")
	}
	if n.Text != "" {
		s += ": " + n.Text
	}
	return s
}

func gifterName(n Notice) string {
	if n.Gifter == nil {
		return "someone"
	}
	return name(*n.Gifter)
}

// systemSummary is an unknown notice's line: Twitch's own words, else who and the type.
func systemSummary(who Actor, system, noticeType string) string {
	if system != "" {
		return system
	}
	return fmt.Sprintf("%s: %s", name(who), orElse(noticeType, "chat notice"))
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
