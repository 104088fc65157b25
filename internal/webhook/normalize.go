package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Event is the normalised event the browser shows. Every string is plain text: the page must
// insert it as text, never as HTML.
type Event struct {
	ID       string          `json:"id"`   // Twitch's message id
	Type     string          `json:"type"` // subscription type, or a synthetic one (user.follows)
	Time     time.Time       `json:"time"` // when it happened (followed_at, started_at, else the message time)
	Summary  string          `json:"summary"`
	Actor    Actor           `json:"actor"`
	Title    string          `json:"title,omitempty"`
	Category string          `json:"category,omitempty"`
	Viewers  int             `json:"viewers,omitempty"` // channel.raid: how many came along
	Notice   *Notice         `json:"notice,omitempty"`  // channel.chat.notification (chatnotice.go)
	Raw      json.RawMessage `json:"raw,omitempty"`     // Twitch's event as received (emails removed)
}

// Actor is who the event is about: the follower, the broadcaster, the updated user.
type Actor struct {
	ID    string `json:"id"`
	Login string `json:"login"`
	Name  string `json:"name"`
}

// twitchEvent holds the event fields of every type Normalize knows.
type twitchEvent struct {
	UserID               string    `json:"user_id"`
	UserLogin            string    `json:"user_login"`
	UserName             string    `json:"user_name"`
	BroadcasterUserID    string    `json:"broadcaster_user_id"`
	BroadcasterUserLogin string    `json:"broadcaster_user_login"`
	BroadcasterUserName  string    `json:"broadcaster_user_name"`
	FollowedAt           time.Time `json:"followed_at"`
	StartedAt            time.Time `json:"started_at"`
	Title                string    `json:"title"`
	CategoryName         string    `json:"category_name"`
	FromBroadcasterID    string    `json:"from_broadcaster_user_id"`
	FromBroadcasterLogin string    `json:"from_broadcaster_user_login"`
	FromBroadcasterName  string    `json:"from_broadcaster_user_name"`
	Viewers              int       `json:"viewers"`
}

// Normalize turns a verified notification into the browser's Event. An unknown subscription
// type gives a generic event ("<type> event") together with ErrUnknownType, which the caller
// logs at Warn; an event that is not a JSON object gives ErrMalformedBody.
func Normalize(msg *Message) (Event, error) {
	typ := msg.SubscriptionType
	ev := Event{ID: msg.ID, Type: typ, Time: msg.Timestamp.UTC(), Raw: msg.Event}
	if typ == eventsub.TypeChatNotification {
		actor, n, sum, err := DecodeChatNotification(msg.Event)
		if err != nil {
			return Event{}, fmt.Errorf("%w: %s event: %v", ErrMalformedBody, typ, err)
		}
		ev.Actor, ev.Notice, ev.Summary = actor, &n, sum
		return ev, nil
	}
	var te twitchEvent
	if err := jsonv2.Unmarshal(msg.Event, &te, jsonOptions); err != nil {
		return Event{}, fmt.Errorf("%w: %s event: %v", ErrMalformedBody, typ, err)
	}
	broadcaster := Actor{ID: te.BroadcasterUserID, Login: te.BroadcasterUserLogin, Name: te.BroadcasterUserName}
	user := Actor{ID: te.UserID, Login: te.UserLogin, Name: te.UserName}
	switch typ {
	case eventsub.TypeChannelFollow:
		ev.Actor = user
		ev.Summary = name(user) + " followed"
		if !te.FollowedAt.IsZero() {
			ev.Time = te.FollowedAt.UTC()
		}
	case eventsub.TypeStreamOnline:
		ev.Actor = broadcaster
		ev.Title = text(te.Title)
		ev.Summary = "Went live"
		if ev.Title != "" {
			ev.Summary += ": " + ev.Title
		}
		if !te.StartedAt.IsZero() {
			ev.Time = te.StartedAt.UTC()
		}
	case eventsub.TypeStreamOffline:
		ev.Actor = broadcaster
		ev.Summary = "Stream ended"
	case eventsub.TypeChannelUpdate:
		ev.Actor = broadcaster
		ev.Title, ev.Category = text(te.Title), text(te.CategoryName)
		ev.Summary = "Title changed to " + ev.Title
		if ev.Category != "" {
			ev.Summary += " · category " + ev.Category
		}
	case eventsub.TypeChannelRaid:
		ev.Actor = Actor{ID: te.FromBroadcasterID, Login: te.FromBroadcasterLogin, Name: te.FromBroadcasterName}
		ev.Viewers = max(te.Viewers, 0)
		ev.Summary = name(ev.Actor) + " raided with " + plural(ev.Viewers, "viewer", "viewers")
	case eventsub.TypeUserUpdate:
		ev.Actor = user
		ev.Summary = "Profile updated"
		ev.Raw = withoutEmail(msg.Event)
	default:
		ev.Actor = broadcaster
		if ev.Actor.ID == "" {
			ev.Actor = user
		}
		ev.Summary = text(typ) + " event"
		ev.Actor = cleanActor(ev.Actor)
		return ev, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	ev.Actor = cleanActor(ev.Actor)
	return ev, nil
}

func cleanActor(a Actor) Actor {
	return Actor{ID: text(a.ID), Login: text(a.Login), Name: text(a.Name)}
}

// name is the display name, else the login, else the id.
func name(a Actor) string {
	for _, s := range []string{a.Name, a.Login, a.ID} {
		if s = text(s); s != "" {
			return s
		}
	}
	return "Someone"
}

// text makes Twitch's strings safe to show as one line of plain text: control characters
// become spaces and surrounding space is trimmed. (HTML escaping is the page's job.)
func text(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// withoutEmail drops user.update's email fields: the streamer's address must not travel to
// viewers' browsers even if Twitch sends it.
func withoutEmail(raw json.RawMessage) json.RawMessage {
	if !bytes.Contains(raw, []byte(`"email`)) {
		return raw
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	delete(m, "email")
	delete(m, "email_verified")
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}
