package twitchsim

import (
	"net/http"
	"slices"
	"time"
)

type helixUser struct {
	ID              string    `json:"id"`
	Login           string    `json:"login"`
	DisplayName     string    `json:"display_name"`
	Type            string    `json:"type"`
	BroadcasterType string    `json:"broadcaster_type"`
	Description     string    `json:"description"`
	ProfileImageURL string    `json:"profile_image_url"`
	OfflineImageURL string    `json:"offline_image_url"`
	ViewCount       int       `json:"view_count"`
	Email           string    `json:"email,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// helixUsers serves GET /helix/users?login=..&id=.. (up to 100 in all; none = the token's
// user; unknown ones are left out). email only for the token's user with user:read:email.
func (s *Sim) helixUsers(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	logins, ids := q["login"], q["id"]
	if len(logins)+len(ids) > 100 {
		helixError(w, http.StatusBadRequest, "The sum of the number of id and login parameters must not exceed 100")
		return
	}
	if len(logins)+len(ids) == 0 {
		if c.app() {
			helixError(w, http.StatusBadRequest, "Must provide an ID, Login or OAuth Token")
			return
		}
		ids = []string{c.userID}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []helixUser{}
	seen := map[string]bool{}
	add := func(u *User) {
		if u == nil || seen[u.ID] {
			return
		}
		seen[u.ID] = true
		hu := helixUser{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName, Type: u.Type,
			BroadcasterType: u.BroadcasterType, Description: u.Description, ProfileImageURL: u.ProfileImageURL,
			OfflineImageURL: u.OfflineImageURL, CreatedAt: u.CreatedAt}
		if u.ID == c.userID && slices.Contains(c.scopes, "user:read:email") {
			hu.Email = u.Email
		}
		out = append(out, hu)
	}
	for _, id := range ids {
		add(s.world.users[id])
	}
	for _, l := range logins {
		u, _ := s.world.byLoginName(l)
		add(u)
	}
	writeJSON(w, http.StatusOK, helixList[helixUser]{Data: out})
}

type helixStream struct {
	ID           string    `json:"id"`
	UserID       string    `json:"user_id"`
	UserLogin    string    `json:"user_login"`
	UserName     string    `json:"user_name"`
	GameID       string    `json:"game_id"`
	GameName     string    `json:"game_name"`
	Type         string    `json:"type"`
	Title        string    `json:"title"`
	Tags         []string  `json:"tags"`
	ViewerCount  int       `json:"viewer_count"`
	StartedAt    time.Time `json:"started_at"`
	Language     string    `json:"language"`
	ThumbnailURL string    `json:"thumbnail_url"`
	IsMature     bool      `json:"is_mature"`
}

// helixStreams serves GET /helix/streams?user_id=..&user_login=.. (empty data = offline).
// Without filters it lists every live stream, most viewers first, paginated.
func (s *Sim) helixStreams(w http.ResponseWriter, r *http.Request, _ caller) {
	q := r.URL.Query()
	ids, logins := q["user_id"], q["user_login"]
	if len(ids)+len(logins) > 100 {
		helixError(w, http.StatusBadRequest, "The sum of the number of user_id and user_login parameters must not exceed 100")
		return
	}
	if t := q.Get("type"); t != "" && t != "all" && t != "live" {
		helixError(w, http.StatusBadRequest, "The parameter \"type\" was malformed: the value must be all or live")
		return
	}
	first, offset, msg := pageParams(r, 20, 100)
	if msg != "" {
		helixError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []*User
	if len(ids)+len(logins) == 0 {
		for _, id := range s.world.order {
			live = append(live, s.world.users[id])
		}
	} else {
		for _, id := range ids {
			live = append(live, s.world.users[id])
		}
		for _, l := range logins {
			u, _ := s.world.byLoginName(l)
			live = append(live, u)
		}
	}
	out := []helixStream{}
	for _, u := range live {
		if u == nil || u.Stream == nil || slices.ContainsFunc(out, func(h helixStream) bool { return h.UserID == u.ID }) {
			continue
		}
		out = append(out, helixStream{ID: u.Stream.ID, UserID: u.ID, UserLogin: u.Login, UserName: u.DisplayName,
			GameID: u.Channel.CategoryID, GameName: u.Channel.CategoryName, Type: u.Stream.Type,
			Title: u.Channel.Title, Tags: []string{"English"}, ViewerCount: u.Stream.ViewerCount,
			StartedAt: u.Stream.StartedAt, Language: u.Channel.Language,
			ThumbnailURL: u.OfflineImageURL})
	}
	slices.SortStableFunc(out, func(a, b helixStream) int { return b.ViewerCount - a.ViewerCount })
	data, cursor := page(out, first, offset)
	writeJSON(w, http.StatusOK, helixList[helixStream]{Data: data, Pagination: pagination{cursor}})
}

type helixFollowed struct {
	BroadcasterID    string    `json:"broadcaster_id"`
	BroadcasterLogin string    `json:"broadcaster_login"`
	BroadcasterName  string    `json:"broadcaster_name"`
	FollowedAt       time.Time `json:"followed_at"`
}

// helixFollowed serves GET /helix/channels/followed?user_id=..[&broadcaster_id=..]: a user
// token with user:read:follows whose user is user_id; newest follow first, paginated.
func (s *Sim) helixFollowed(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	userID := q.Get("user_id")
	switch {
	case userID == "":
		helixError(w, http.StatusBadRequest, "Missing required parameter \"user_id\"")
		return
	case c.app():
		helixError(w, http.StatusUnauthorized, "This endpoint requires a user access token")
		return
	case !slices.Contains(c.scopes, "user:read:follows"):
		helixError(w, http.StatusUnauthorized, "Missing scope: user:read:follows")
		return
	case userID != c.userID:
		helixError(w, http.StatusUnauthorized, "The user_id query parameter must match the user ID in the user access token")
		return
	}
	first, offset, msg := pageParams(r, 20, 100)
	if msg != "" {
		helixError(w, http.StatusBadRequest, msg)
		return
	}
	broadcaster := q.Get("broadcaster_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []helixFollowed{}
	for i := len(s.world.follows) - 1; i >= 0; i-- {
		f := s.world.follows[i]
		if f.UserID != userID || (broadcaster != "" && f.BroadcasterID != broadcaster) {
			continue
		}
		b := s.world.users[f.BroadcasterID]
		out = append(out, helixFollowed{BroadcasterID: b.ID, BroadcasterLogin: b.Login,
			BroadcasterName: b.DisplayName, FollowedAt: f.FollowedAt})
	}
	total := len(out)
	data, cursor := page(out, first, offset)
	writeJSON(w, http.StatusOK, helixList[helixFollowed]{Total: &total, Data: data, Pagination: pagination{cursor}})
}
