package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Validation is the answer of GET /oauth2/validate. For an app token Login and UserID are empty.
type Validation struct {
	ClientID  string   `json:"client_id"`
	Login     string   `json:"login"`
	UserID    string   `json:"user_id"`
	Scopes    []string `json:"scopes"`
	ExpiresIn int      `json:"expires_in"` // seconds
}

// Validate checks an access token with Twitch, as Twitch requires at start-up and hourly
// for every session. An expired, revoked or unknown token gives an error matching
// ErrInvalidToken: end that session.
func (c *Client) Validate(ctx context.Context, accessToken string) (Validation, error) {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/validate", nil)
	if err != nil {
		return Validation{}, &Error{Op: "validate", Err: err}
	}
	req.Header.Set("Authorization", "OAuth "+accessToken)
	status, body, err := c.send(req)
	if err != nil {
		return Validation{}, &Error{Op: "validate", Err: err}
	}
	if status != http.StatusOK {
		return Validation{}, apiError("validate", status, body)
	}
	var v Validation
	if err := json.Unmarshal(body, &v); err != nil {
		return Validation{}, &Error{Op: "validate", Status: status, Err: fmt.Errorf("decode: %w", err)}
	}
	if v.ClientID != "" && v.ClientID != c.oauth.ClientID {
		// A token issued to another application must not log anyone in here.
		return Validation{}, &Error{Op: "validate", Status: status, Message: "token belongs to another client id", Kind: ErrInvalidToken}
	}
	return v, nil
}
