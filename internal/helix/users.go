package helix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// User is a Helix user (GET /users).
type User struct {
	ID              string    `json:"id"`
	Login           string    `json:"login"`
	DisplayName     string    `json:"display_name"`
	Type            string    `json:"type"`             // "admin", "global_mod", "staff" or ""
	BroadcasterType string    `json:"broadcaster_type"` // "partner", "affiliate" or ""
	Description     string    `json:"description"`
	ProfileImageURL string    `json:"profile_image_url"`
	OfflineImageURL string    `json:"offline_image_url"`
	CreatedAt       time.Time `json:"created_at"`
}

// GetUsers looks users up by login and/or id (any number; sent 100 per request). With no
// logins and no ids it returns the owner of ts's token. Unknown users are simply missing.
func (c *Client) GetUsers(ctx context.Context, ts TokenSource, logins, ids []string) ([]User, error) {
	if len(logins) == 0 && len(ids) == 0 {
		var resp struct{ Data []User }
		if err := c.do(ctx, call{method: http.MethodGet, path: "/users", ts: ts}, &resp); err != nil {
			return nil, fmt.Errorf("helix: get token owner: %w", err)
		}
		return resp.Data, nil
	}
	type param struct{ key, value string }
	params := make([]param, 0, len(logins)+len(ids))
	for _, l := range logins {
		params = append(params, param{"login", l})
	}
	for _, id := range ids {
		params = append(params, param{"id", id})
	}
	var users []User
	for chunk := range chunks(params, maxIDsPerRequest) {
		q := url.Values{}
		for _, p := range chunk {
			q.Add(p.key, p.value)
		}
		var resp struct{ Data []User }
		if err := c.do(ctx, call{method: http.MethodGet, path: "/users", query: q, ts: ts}, &resp); err != nil {
			return nil, fmt.Errorf("helix: get users (%d logins, %d ids): %w", len(logins), len(ids), err)
		}
		users = append(users, resp.Data...)
	}
	return users, nil
}

// GetUserByLogin returns the user with that login, or an error matching ErrNotFound.
func (c *Client) GetUserByLogin(ctx context.Context, ts TokenSource, login string) (User, error) {
	if login == "" {
		return User{}, fmt.Errorf("helix: get user: empty login: %w", ErrBadRequest)
	}
	var resp struct{ Data []User }
	q := url.Values{"login": {login}}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/users", query: q, ts: ts}, &resp); err != nil {
		return User{}, fmt.Errorf("helix: get user %q: %w", login, err)
	}
	if len(resp.Data) == 0 {
		return User{}, fmt.Errorf("helix: get user %q: %w", login, ErrNotFound)
	}
	return resp.Data[0], nil
}

// chunks yields s in pieces of at most n.
func chunks[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}
