package twitchsim

import (
	"context"
	"fmt"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Event payloads (docs/TWITCH.md §5), in Twitch's field order.
type broadcasterFields struct {
	BroadcasterUserID    string `json:"broadcaster_user_id"`
	BroadcasterUserLogin string `json:"broadcaster_user_login"`
	BroadcasterUserName  string `json:"broadcaster_user_name"`
}

func broadcasterOf(u *User) broadcasterFields {
	return broadcasterFields{u.ID, u.Login, u.DisplayName}
}

type followEvent struct {
	UserID    string `json:"user_id"`
	UserLogin string `json:"user_login"`
	UserName  string `json:"user_name"`
	broadcasterFields
	FollowedAt time.Time `json:"followed_at"`
}

type onlineEvent struct {
	ID string `json:"id"`
	broadcasterFields
	Type      string    `json:"type"`
	StartedAt time.Time `json:"started_at"`
}

type offlineEvent struct {
	ID string `json:"id"`
	broadcasterFields
}

type channelUpdateEvent struct {
	broadcasterFields
	Title                       string   `json:"title"`
	Language                    string   `json:"language"`
	CategoryID                  string   `json:"category_id"`
	CategoryName                string   `json:"category_name"`
	ContentClassificationLabels []string `json:"content_classification_labels"`
}

type userUpdateEvent struct {
	UserID        string `json:"user_id"`
	UserLogin     string `json:"user_login"`
	UserName      string `json:"user_name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Description   string `json:"description"`
}

// Follow makes follower follow broadcaster and delivers channel.follow.
func (s *Sim) Follow(ctx context.Context, followerLogin, broadcasterLogin string) ([]Delivery, error) {
	return s.trigger(ctx, eventsub.TypeChannelFollow, func() (string, any, error) {
		f, err := s.world.mustLogin(followerLogin)
		if err != nil {
			return "", nil, err
		}
		b, err := s.world.mustLogin(broadcasterLogin)
		if err != nil {
			return "", nil, err
		}
		if f.ID == b.ID || s.world.following(f.ID, b.ID) {
			return "", nil, fmt.Errorf("%w: %s follows %s", ErrAlreadyFollowing, f.Login, b.Login)
		}
		at := s.now().UTC()
		s.world.follows = append(s.world.follows, Follow{UserID: f.ID, UserLogin: f.Login,
			BroadcasterID: b.ID, BroadcasterLogin: b.Login, FollowedAt: at})
		return b.ID, followEvent{f.ID, f.Login, f.DisplayName, broadcasterOf(b), at}, nil
	})
}

// GoLive starts a stream and delivers stream.online. A non-empty title or category also
// becomes the channel's (no channel.update is sent for it; call UpdateChannel for that).
func (s *Sim) GoLive(ctx context.Context, login, title, category string) ([]Delivery, error) {
	return s.trigger(ctx, eventsub.TypeStreamOnline, func() (string, any, error) {
		u, err := s.world.mustLogin(login)
		if err != nil {
			return "", nil, err
		}
		if u.Stream != nil {
			return "", nil, fmt.Errorf("%w: %s", ErrAlreadyLive, u.Login)
		}
		setChannel(u, title, category)
		u.Stream = &Stream{ID: s.world.newStreamID(), Type: "live", StartedAt: s.now().UTC(),
			ViewerCount: 1 + s.rng.IntN(500)}
		return u.ID, onlineEvent{u.Stream.ID, broadcasterOf(u), u.Stream.Type, u.Stream.StartedAt}, nil
	})
}

// EndStream ends a live stream and delivers stream.offline.
func (s *Sim) EndStream(ctx context.Context, login string) ([]Delivery, error) {
	return s.trigger(ctx, eventsub.TypeStreamOffline, func() (string, any, error) {
		u, err := s.world.mustLogin(login)
		if err != nil {
			return "", nil, err
		}
		if u.Stream == nil {
			return "", nil, fmt.Errorf("%w: %s", ErrNotLive, u.Login)
		}
		id := u.Stream.ID
		u.Stream = nil
		return u.ID, offlineEvent{id, broadcasterOf(u)}, nil
	})
}

// UpdateChannel changes a channel's title and/or category (empty keeps the current value)
// and delivers channel.update (v2), live or not.
func (s *Sim) UpdateChannel(ctx context.Context, login, title, category string) ([]Delivery, error) {
	return s.trigger(ctx, eventsub.TypeChannelUpdate, func() (string, any, error) {
		u, err := s.world.mustLogin(login)
		if err != nil {
			return "", nil, err
		}
		setChannel(u, title, category)
		ch := u.clone().Channel
		return u.ID, channelUpdateEvent{broadcasterOf(u), ch.Title, ch.Language, ch.CategoryID, ch.CategoryName,
			ch.ContentClassificationLabels}, nil
	})
}

// UpdateUser changes a user's description and delivers user.update. The event carries the
// email only if the user granted user:read:email to the client, as on Twitch.
func (s *Sim) UpdateUser(ctx context.Context, login, description string) ([]Delivery, error) {
	return s.trigger(ctx, eventsub.TypeUserUpdate, func() (string, any, error) {
		u, err := s.world.mustLogin(login)
		if err != nil {
			return "", nil, err
		}
		u.Description = description
		ev := userUpdateEvent{UserID: u.ID, UserLogin: u.Login, UserName: u.DisplayName, Description: description}
		if s.hasScope(u.ID, "user:read:email") {
			ev.Email, ev.EmailVerified = u.Email, true
		}
		return u.ID, ev, nil
	})
}

func setChannel(u *User, title, category string) {
	if title != "" {
		u.Channel.Title = title
	}
	if category != "" {
		u.Channel.CategoryName = category
		u.Channel.CategoryID = categoryID(category)
	}
}

// trigger changes the world with change (under mu; it returns the user id the condition
// must name and the event), then delivers the event to every enabled subscription of typ
// for that user, one after the other, and returns when all deliveries are done.
func (s *Sim) trigger(ctx context.Context, typ string, change func() (string, any, error)) ([]Delivery, error) {
	if s.ctx.Err() != nil {
		return nil, ErrClosed
	}
	field := subscriptionTypes[typ].condition[0] // broadcaster_user_id or user_id
	s.mu.Lock()
	userID, event, err := change()
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var targets []message
	for _, id := range s.subOrder {
		sb := s.subs[id]
		if sb.Type == typ && sb.Status == eventsub.StatusEnabled && sb.Condition[field] == userID {
			targets = append(targets, message{typ: eventsub.MessageTypeNotification, sub: sb.Subscription,
				secret: sb.secret, skew: s.misbehavior.TimestampSkew})
		}
	}
	dup := s.misbehavior.DuplicateDelivery
	wsTargets := s.wsTargetsLocked(typ, field, userID, event)
	s.mu.Unlock()
	s.log.Info("event", "event_type", typ, "user_id", userID, "subscriptions", len(targets))

	ctx, cancel := s.deliveryCtx(ctx)
	defer cancel()
	var out []Delivery
	for _, m := range targets {
		m.id = newUUID()
		m.body = mustJSON(struct {
			Subscription eventsub.Subscription `json:"subscription"`
			Event        any                   `json:"event"`
		}{m.sub, event})
		d := s.send(ctx, m)
		out = append(out, d)
		if dup {
			d2 := s.send(ctx, m)
			out = append(out, d2)
			if d.Err != nil {
				d = d2
			}
		}
		out = append(out, s.recordOutcome(ctx, m.sub.ID, d.Err == nil)...)
	}
	return append(out, s.sendWS(ctx, wsTargets, eventsub.MessageTypeNotification)...), nil
}

// recordOutcome counts failed notifications in a row; at MaxNotificationFailures the
// subscription becomes notification_failures_exceeded and gets its revocation.
func (s *Sim) recordOutcome(ctx context.Context, id string, ok bool) []Delivery {
	s.mu.Lock()
	sb, exists := s.subs[id]
	if !exists || sb.Status != eventsub.StatusEnabled {
		s.mu.Unlock()
		return nil
	}
	if ok {
		sb.failures = 0
		s.mu.Unlock()
		return nil
	}
	sb.failures++
	if sb.failures < s.cfg.MaxNotificationFailures {
		s.mu.Unlock()
		return nil
	}
	m := s.revokeLocked(sb, eventsub.StatusNotificationFailuresExceeded)
	s.mu.Unlock()
	return []Delivery{s.send(ctx, m)}
}
