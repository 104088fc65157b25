package helix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Stream is a live stream (GET /streams). An offline channel has no Stream.
type Stream struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	UserLogin   string    `json:"user_login"`
	UserName    string    `json:"user_name"`
	GameID      string    `json:"game_id"`
	GameName    string    `json:"game_name"`
	Type        string    `json:"type"` // "live"
	Title       string    `json:"title"`
	ViewerCount int       `json:"viewer_count"`
	StartedAt   time.Time `json:"started_at"`
	Tags        []string  `json:"tags"`
}

// GetStreams returns the live streams of the given users (sent 100 per request); users who
// are offline are missing from the result. No user ids: no request, no streams.
func (c *Client) GetStreams(ctx context.Context, ts TokenSource, userIDs []string) ([]Stream, error) {
	var streams []Stream
	for chunk := range chunks(userIDs, maxIDsPerRequest) {
		q := url.Values{"user_id": chunk, "first": {strconv.Itoa(maxIDsPerRequest)}}
		var resp struct{ Data []Stream }
		if err := c.do(ctx, call{method: http.MethodGet, path: "/streams", query: q, ts: ts}, &resp); err != nil {
			return nil, fmt.Errorf("helix: get streams (%d users): %w", len(userIDs), err)
		}
		streams = append(streams, resp.Data...)
	}
	return streams, nil
}
