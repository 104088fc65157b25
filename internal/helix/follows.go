package helix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FollowedChannel is a channel a user follows (GET /channels/followed).
type FollowedChannel struct {
	BroadcasterID    string    `json:"broadcaster_id"`
	BroadcasterLogin string    `json:"broadcaster_login"`
	BroadcasterName  string    `json:"broadcaster_name"`
	FollowedAt       time.Time `json:"followed_at"`
}

// GetFollowedChannels returns the first page (newest follow first) of the channels userID
// follows. ts must be userID's own token with user:read:follows. first is the page size,
// 1-100; 0 means Twitch's default (20).
func (c *Client) GetFollowedChannels(ctx context.Context, ts TokenSource, userID string, first int) ([]FollowedChannel, error) {
	if userID == "" || first < 0 || first > 100 {
		return nil, fmt.Errorf("helix: get followed channels %q: first=%d: %w", userID, first, ErrBadRequest)
	}
	q := url.Values{"user_id": {userID}}
	if first > 0 {
		q.Set("first", strconv.Itoa(first))
	}
	var resp struct{ Data []FollowedChannel }
	if err := c.do(ctx, call{method: http.MethodGet, path: "/channels/followed", query: q, ts: ts}, &resp); err != nil {
		return nil, fmt.Errorf("helix: get followed channels of %s: %w", userID, err)
	}
	return resp.Data, nil
}
