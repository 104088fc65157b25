package twitchsim

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// errNoCandidate: the world offers nobody for this kind of event right now.
var errNoCandidate = errors.New("twitchsim: nobody can do that right now")

// Chat kinds of the activity generator. Its opening plays openingKinds once in a streamer's
// channel as soon as someone subscribes to its raids or chat notifications, so that a page
// watching it shows every notice type within its first minute (DemoActivityEvery is 2 s);
// otherwise they are drawn at random.
const (
	kindRaid     = "raid"
	kindSub      = "sub"
	kindResub    = "resub"
	kindGift     = "gift"      // a single sub_gift
	kindAnonGift = "anon_gift" // a sub_gift by an anonymous gifter
	kindBomb     = "bomb"      // a community gift of communityGiftSize
	kindAnnounce = "announce"
	kindUpgrade  = "upgrade" // gift_paid_upgrade
	kindPrime    = "prime"   // prime_paid_upgrade
	kindForward  = "forward" // pay_it_forward
	kindBits     = "bits"
	kindCharity  = "charity"
	kindUnraid   = "unraid"
)

const communityGiftSize = 50

// The single gifts come before the gift bomb: its 50 recipients may be everyone left who is
// not subscribed.
var openingKinds = []string{kindRaid, kindSub, kindResub, kindAnonGift, kindGift, kindBomb, kindAnnounce, kindUpgrade,
	kindPrime, kindForward, kindBits, kindCharity, kindUnraid}

var (
	activityMessages = []string{"Love the stream Kappa", "<b>hype</b> <script>alert(1)</script> & more",
		"Another month, another PB?", "", "Here since the first stream!"}
	activityAnnouncements = []string{"Giveaway at the top of the hour!", "Be kind in chat <3", "Stream schedule changed: see the <panel>",
		"We hit the sub goal, thank you all!"}
	announceColors = []string{"PRIMARY", "BLUE", "GREEN", "ORANGE", "PURPLE"}
	charities      = []string{"Direct Relief", "St. Jude Children's Research Hospital", "Doctors Without Borders"}
	tiers          = []string{"1000", "1000", "1000", "2000", "3000"}
)

// chatStep picks, under mu, who takes part in one chat event of kind in b's channel and
// returns the trigger to fire (after mu is released).
func (s *Sim) chatStep(ctx context.Context, r *rand.Rand, kind string, b *User) (func() ([]Delivery, error), error) {
	w := s.world
	subbed := func(u *User, want func(*ChannelSub) bool) bool {
		cs := w.subs[subKey(u.ID, b.ID)]
		return cs != nil && (want == nil || want(cs))
	}
	pickUser := func(ok func(u *User) bool) *User {
		var c []*User
		for _, id := range w.order {
			if u := w.users[id]; u.ID != b.ID && ok(u) {
				c = append(c, u)
			}
		}
		if len(c) == 0 {
			return nil
		}
		return c[r.IntN(len(c))]
	}
	notSubbed := func(u *User) bool { return !subbed(u, nil) }
	bl := b.Login
	switch kind {
	case kindRaid:
		from := pickUser(func(u *User) bool { return u.Stream != nil })
		if from == nil {
			return nil, errNoCandidate
		}
		fl := from.Login
		return func() ([]Delivery, error) { return s.Raid(ctx, fl, bl) }, nil
	case kindUnraid:
		return func() ([]Delivery, error) { return s.Unraid(ctx, bl) }, nil
	case kindSub:
		u := pickUser(notSubbed)
		if u == nil {
			return nil, errNoCandidate
		}
		ul, tier, prime := u.Login, pick(r.IntN, tiers), r.IntN(3) == 0
		return func() ([]Delivery, error) { return s.Subscribe(ctx, ul, bl, tier, prime) }, nil
	case kindResub:
		u := pickUser(func(u *User) bool { return subbed(u, nil) })
		if u == nil {
			return nil, errNoCandidate
		}
		ul, msg, streak := u.Login, pick(r.IntN, activityMessages), r.IntN(4) != 0
		return func() ([]Delivery, error) { return s.Resubscribe(ctx, ul, bl, msg, streak) }, nil
	case kindGift, kindAnonGift:
		to := pickUser(notSubbed)
		if to == nil {
			return nil, errNoCandidate
		}
		gl := ""
		if kind == kindGift {
			g := pickUser(func(u *User) bool { return u.ID != to.ID })
			if g == nil {
				return nil, errNoCandidate
			}
			gl = g.Login
		}
		tl, tier := to.Login, pick(r.IntN, tiers)
		return func() ([]Delivery, error) { return s.GiftSub(ctx, gl, bl, tl, tier) }, nil
	case kindBomb:
		gl := ""
		if r.IntN(3) != 0 {
			gl = pickUser(func(*User) bool { return true }).Login
		}
		return func() ([]Delivery, error) { return s.CommunityGift(ctx, gl, bl, communityGiftSize, "1000") }, nil
	case kindAnnounce:
		by := b
		if len(b.Moderators) > 0 && r.IntN(2) == 0 {
			by = w.users[b.Moderators[r.IntN(len(b.Moderators))]]
		}
		byl, text, color := by.Login, pick(r.IntN, activityAnnouncements), pick(r.IntN, announceColors)
		return func() ([]Delivery, error) { return s.Announce(ctx, byl, bl, text, color) }, nil
	case kindUpgrade, kindForward:
		u := pickUser(func(u *User) bool { return subbed(u, func(cs *ChannelSub) bool { return cs.Gift }) })
		if u == nil {
			return nil, errNoCandidate
		}
		ul := u.Login
		if kind == kindUpgrade {
			return func() ([]Delivery, error) { return s.GiftPaidUpgrade(ctx, ul, bl) }, nil
		}
		return func() ([]Delivery, error) { return s.PayItForward(ctx, ul, bl) }, nil
	case kindPrime:
		u := pickUser(func(u *User) bool { return subbed(u, func(cs *ChannelSub) bool { return cs.Prime }) })
		if u == nil {
			return nil, errNoCandidate
		}
		ul, tier := u.Login, pick(r.IntN, tiers)
		return func() ([]Delivery, error) { return s.PrimePaidUpgrade(ctx, ul, bl, tier) }, nil
	case kindBits:
		u := pickUser(func(*User) bool { return true })
		ul, tier := u.Login, []int{100, 1000, 5000, 10000}[r.IntN(4)]
		return func() ([]Delivery, error) { return s.BitsBadge(ctx, ul, bl, tier, pick(r.IntN, activityMessages)) }, nil
	case kindCharity:
		u := pickUser(func(*User) bool { return true })
		ul, charity, cents := u.Login, pick(r.IntN, charities), 100*(1+r.IntN(50))+[]int{0, 50, 99}[r.IntN(3)]
		return func() ([]Delivery, error) { return s.CharityDonation(ctx, ul, bl, charity, cents, "USD") }, nil
	}
	return nil, errNoCandidate
}

// openingStep picks the next opening kind of every streamer that has not finished its
// opening and has an enabled subscription that kind is delivered to: the raid waits for a
// raid subscription, the chat notices for a chat notification one (a viewer's arrives a
// moment after the raids, over the viewer's WebSocket session), so none is played to nobody.
// Caller holds mu.
func (s *Sim) openingStep(ctx context.Context, r *rand.Rand) ([]func() ([]Delivery, error), string) {
	var fires []func() ([]Delivery, error)
	kind := ""
	for _, id := range s.world.order[:len(seedStreamers)] {
		next := s.opening[id]
		if next >= len(openingKinds) {
			continue
		}
		typ := eventsub.TypeChatNotification
		if openingKinds[next] == kindRaid {
			typ = eventsub.TypeChannelRaid
		}
		if !s.watched(id, typ) {
			continue
		}
		s.opening[id] = next + 1
		kind = openingKinds[next]
		if fire, err := s.chatStep(ctx, r, kind, s.world.users[id]); err == nil {
			fires = append(fires, fire)
		}
	}
	return fires, kind
}

// watched reports whether a channel has an enabled subscription of typ (channel.raid: its
// incoming raids; channel.chat.notification) over either transport. Caller holds mu.
func (s *Sim) watched(broadcasterID, typ string) bool {
	field := "broadcaster_user_id"
	if typ == eventsub.TypeChannelRaid {
		field = "to_broadcaster_user_id"
	}
	watches := func(sb eventsub.Subscription) bool {
		return sb.Status == eventsub.StatusEnabled && sb.Type == typ && sb.Condition[field] == broadcasterID
	}
	for _, id := range s.subOrder {
		if watches(s.subs[id].Subscription) {
			return true
		}
	}
	for _, id := range s.ws.order {
		if watches(s.ws.subs[id].Subscription) {
			return true
		}
	}
	return false
}
