package twitchsim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of the trigger methods, for errors.Is.
var (
	ErrUnknownUser         = errors.New("twitchsim: unknown user")
	ErrAlreadyLive         = errors.New("twitchsim: stream is already live")
	ErrNotLive             = errors.New("twitchsim: stream is not live")
	ErrAlreadyFollowing    = errors.New("twitchsim: already following")
	ErrUnknownSubscription = errors.New("twitchsim: unknown subscription")
	ErrClosed              = errors.New("twitchsim: simulator closed")
)

// User is a simulated Twitch user and its channel, as the simulator's Go API returns it
// (a copy: changing it changes nothing in the simulator).
type User struct {
	ID              string    `json:"id"`
	Login           string    `json:"login"`
	DisplayName     string    `json:"display_name"`
	Type            string    `json:"type"`             // "", "admin", "global_mod", "staff"
	BroadcasterType string    `json:"broadcaster_type"` // "", "affiliate", "partner"
	Description     string    `json:"description"`
	ProfileImageURL string    `json:"profile_image_url"` // an inline SVG data URI
	OfflineImageURL string    `json:"offline_image_url"` // an inline SVG data URI or ""
	Email           string    `json:"email"`
	CreatedAt       time.Time `json:"created_at"`
	Channel         Channel   `json:"channel"`
	Stream          *Stream   `json:"stream"`     // nil when offline
	Moderators      []string  `json:"moderators"` // user ids of this channel's moderators
}

// Channel is a channel's information; it persists across streams, as on Twitch.
type Channel struct {
	Title                       string   `json:"title"`
	CategoryID                  string   `json:"category_id"`
	CategoryName                string   `json:"category_name"`
	Language                    string   `json:"language"`
	ContentClassificationLabels []string `json:"content_classification_labels"`
}

// Stream is a live stream.
type Stream struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"` // "live"
	StartedAt   time.Time `json:"started_at"`
	ViewerCount int       `json:"viewer_count"`
}

// Follow is one user following one channel.
type Follow struct {
	UserID           string    `json:"user_id"`
	UserLogin        string    `json:"user_login"`
	BroadcasterID    string    `json:"broadcaster_id"`
	BroadcasterLogin string    `json:"broadcaster_login"`
	FollowedAt       time.Time `json:"followed_at"`
}

// world is the simulated state of Twitch; Sim.mu guards it.
type world struct {
	users   map[string]*User          // by id
	byLogin map[string]string         // lowercase login -> id
	order   []string                  // ids in seed order
	follows []Follow                  // oldest first
	nextID  int                       // next stream id
	subs    map[[2]string]*ChannelSub // by (user id, broadcaster id): channel subscriptions
	gifted  map[[2]string]int         // by (gifter id, broadcaster id): subs gifted there
	crowd   []string                  // ids of gift recipients added by CommunityGift (not in order)
}

func (w *world) add(u *User) {
	w.users[u.ID] = u
	w.byLogin[strings.ToLower(u.Login)] = u.ID
	w.order = append(w.order, u.ID)
}

func (w *world) byLoginName(login string) (*User, bool) {
	id, ok := w.byLogin[strings.ToLower(login)]
	if !ok {
		return nil, false
	}
	return w.users[id], true
}

func (w *world) mustLogin(login string) (*User, error) {
	u, ok := w.byLoginName(login)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownUser, login)
	}
	return u, nil
}

func (w *world) following(userID, broadcasterID string) bool {
	return slices.ContainsFunc(w.follows, func(f Follow) bool {
		return f.UserID == userID && f.BroadcasterID == broadcasterID
	})
}

// isModerator reports whether userID may moderate broadcasterID's channel (the broadcaster
// counts as its own moderator).
func (w *world) isModerator(userID, broadcasterID string) bool {
	b, ok := w.users[broadcasterID]
	if !ok {
		return false
	}
	return userID == broadcasterID || slices.Contains(b.Moderators, userID)
}

func (w *world) newStreamID() string {
	w.nextID++
	return strconv.Itoa(w.nextID)
}

// clone returns a deep copy of u.
func (u *User) clone() User {
	c := *u
	c.Moderators = slices.Clone(u.Moderators)
	c.Channel.ContentClassificationLabels = slices.Clone(u.Channel.ContentClassificationLabels)
	if c.Channel.ContentClassificationLabels == nil {
		c.Channel.ContentClassificationLabels = []string{}
	}
	if u.Stream != nil {
		st := *u.Stream
		c.Stream = &st
	}
	return c
}

// User returns the user with this login (case-insensitive).
func (s *Sim) User(login string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.world.byLoginName(login)
	if !ok {
		return User{}, false
	}
	return u.clone(), true
}

// Users returns every simulated user, streamers first, in seed order.
func (s *Sim) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.world.order))
	for _, id := range s.world.order {
		out = append(out, s.world.users[id].clone())
	}
	return out
}

// Followers returns the follows of a channel, newest first.
func (s *Sim) Followers(broadcasterLogin string) []Follow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Follow
	for i := len(s.world.follows) - 1; i >= 0; i-- {
		if strings.EqualFold(s.world.follows[i].BroadcasterLogin, broadcasterLogin) {
			out = append(out, s.world.follows[i])
		}
	}
	return out
}

// ModeratorLogins returns the moderators' logins of every channel that has any, by channel
// login, in the order they were made moderators: whom channel.follow accepts as
// moderator_user_id besides the broadcaster (the demo's streamer form says so).
func (s *Sim) ModeratorLogins() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, id := range s.world.order {
		u := s.world.users[id]
		for _, m := range u.Moderators {
			if mu, ok := s.world.users[m]; ok {
				out[u.Login] = append(out[u.Login], mu.Login)
			}
		}
	}
	return out
}

// AddModerator makes moderator a moderator of broadcaster's channel.
func (s *Sim) AddModerator(broadcasterLogin, moderatorLogin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.world.mustLogin(broadcasterLogin)
	if err != nil {
		return err
	}
	m, err := s.world.mustLogin(moderatorLogin)
	if err != nil {
		return err
	}
	if !slices.Contains(b.Moderators, m.ID) {
		b.Moderators = append(b.Moderators, m.ID)
	}
	return nil
}

// categories are the simulated games and categories (name -> id).
var categories = []struct{ ID, Name string }{
	{"509658", "Just Chatting"},
	{"27471", "Minecraft"},
	{"1469308723", "Software and Game Development"},
	{"509660", "Art"},
	{"26936", "Music"},
	{"21779", "League of Legends"},
	{"516575", "VALORANT"},
	{"509670", "Science & Technology"},
	{"490100", "Lego & Brickbuilding"},
	{"27284", "Retro"},
}

// categoryID returns the id of a category name; unknown names get a stable made-up id.
func categoryID(name string) string {
	for _, c := range categories {
		if strings.EqualFold(c.Name, name) {
			return c.ID
		}
	}
	if name == "" {
		return ""
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return strconv.FormatUint(uint64(h.Sum32()%900000000+100000000), 10)
}
