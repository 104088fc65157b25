package helix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Channel is a channel's information (GET /channels): its title and category whether or not
// it is live.
type Channel struct {
	BroadcasterID    string   `json:"broadcaster_id"`
	BroadcasterLogin string   `json:"broadcaster_login"`
	BroadcasterName  string   `json:"broadcaster_name"`
	Language         string   `json:"broadcaster_language"`
	GameID           string   `json:"game_id"`
	GameName         string   `json:"game_name"`
	Title            string   `json:"title"`
	Tags             []string `json:"tags"`
}

// GetChannels returns the channel information of the given broadcasters (sent 100 per request).
func (c *Client) GetChannels(ctx context.Context, ts TokenSource, broadcasterIDs []string) ([]Channel, error) {
	var out []Channel
	for chunk := range chunks(broadcasterIDs, maxIDsPerRequest) {
		var resp struct{ Data []Channel }
		if err := c.do(ctx, call{method: http.MethodGet, path: "/channels", query: url.Values{"broadcaster_id": chunk}, ts: ts}, &resp); err != nil {
			return nil, fmt.Errorf("helix: get channels (%d broadcasters): %w", len(broadcasterIDs), err)
		}
		out = append(out, resp.Data...)
	}
	return out, nil
}
