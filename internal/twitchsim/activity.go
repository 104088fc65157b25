package twitchsim

import (
	"context"
	"errors"
	"time"
)

const defaultActivityEvery = 5 * time.Second

// Titles, categories and descriptions the activity generator picks from.
var (
	activityTitles = []string{
		"Chill stream, come say hi", "Road to Diamond — ranked grind", "Building a castle, day 3",
		"Speedrun practice: new route?", "Q&A and coffee ☕", "Drawing your channel emotes",
		"Late night <synthwave> & \"code\"", "First playthrough, no spoilers please!",
	}
	activityCategories = []string{"Just Chatting", "Minecraft", "Art", "Music", "Retro", "VALORANT",
		"Software and Game Development"}
	activityDescriptions = []string{
		"Streaming most evenings (CET).", "Now with a new camera!", "Variety streamer & cat owner.",
		"Taking a short break, back soon.", "Speedrunner, modder, occasional artist.",
	}
)

// StartActivity runs a generator of plausible events until ctx ends or the simulator
// closes: every tick a new follower, a title or category change, a stream going live or
// offline, a profile change, a raid or a chat notice (sub, resub, gifts, a community gift
// of 50, upgrades, announcements, bits badges, charity; activity_chat.go). A streamer that
// gets its first raid or chat notification subscription, over either transport, first
// plays the opening: one tick each, a raid and every chat notice type (openingStep). It goes through the trigger methods, so the world stays
// consistent (a stream that is offline never goes offline again) and every event is
// delivered to the matching subscriptions. every <= 0 means 5 s.
func (s *Sim) StartActivity(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = defaultActivityEvery
	}
	s.goAsync(func(simCtx context.Context) {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-simCtx.Done():
				return
			case <-t.C:
				kind, err := s.activityStep(ctx)
				if err != nil {
					s.log.Debug("activity step", "kind", kind, "err", err)
				}
			}
		}
	})
}

// activityStep picks one event that the current world allows and triggers it.
func (s *Sim) activityStep(ctx context.Context) (string, error) {
	s.mu.Lock()
	streamers := s.world.order[:len(seedStreamers)]
	r := s.rng
	if fires, kind := s.openingStep(ctx, r); len(fires) > 0 {
		s.mu.Unlock()
		var errs []error
		for _, fire := range fires {
			_, err := fire()
			errs = append(errs, err)
		}
		return kind, errors.Join(errs...)
	}
	kinds := []string{"follow", "follow", "channel", "live", "live", "profile", kindRaid, kindSub, kindResub, kindResub,
		kindGift, kindAnonGift, kindAnnounce, kindUpgrade, kindPrime, kindForward, kindBits, kindCharity, kindUnraid}
	kind := kinds[r.IntN(len(kinds))]
	if r.IntN(40) == 0 {
		kind = kindBomb
	}
	b := s.world.users[streamers[r.IntN(len(streamers))]]
	var fire func() ([]Delivery, error)
	switch kind {
	case "follow":
		var candidates []string
		for _, id := range s.world.order {
			if id != b.ID && !s.world.following(id, b.ID) {
				candidates = append(candidates, s.world.users[id].Login)
			}
		}
		if len(candidates) == 0 { // everyone follows: change the title instead
			kind = "channel"
			break
		}
		follower, broadcaster := candidates[r.IntN(len(candidates))], b.Login
		fire = func() ([]Delivery, error) { return s.Follow(ctx, follower, broadcaster) }
	case "live":
		login, live := b.Login, b.Stream != nil
		title, category := pick(r.IntN, activityTitles), pick(r.IntN, activityCategories)
		fire = func() ([]Delivery, error) {
			if live {
				return s.EndStream(ctx, login)
			}
			return s.GoLive(ctx, login, title, category)
		}
	case "profile":
		u := s.world.users[s.world.order[r.IntN(len(s.world.order))]]
		login, desc := u.Login, pick(r.IntN, activityDescriptions)
		fire = func() ([]Delivery, error) { return s.UpdateUser(ctx, login, desc) }
	case "channel":
	default:
		f, err := s.chatStep(ctx, r, kind, b)
		if err != nil {
			kind = "channel"
			break
		}
		fire = f
	}
	if kind == "channel" {
		login, title, category := b.Login, pick(r.IntN, activityTitles), ""
		if r.IntN(3) == 0 {
			category = pick(r.IntN, activityCategories)
		}
		fire = func() ([]Delivery, error) { return s.UpdateChannel(ctx, login, title, category) }
	}
	s.mu.Unlock()
	_, err := fire()
	return kind, err
}

func pick(intN func(int) int, from []string) string {
	return from[intN(len(from))]
}
