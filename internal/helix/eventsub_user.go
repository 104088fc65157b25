package helix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// WebSocket subscriptions (docs/TWITCH.md §7) are made with the token of the user whose
// WebSocket session receives them, not the app token: Twitch refuses an app token (400), and
// the session must be a connected one of that same user.

// CreateUserSubscription creates a subscription with ts, a user's token (for the websocket
// transport). A 409 (it exists on that session) returns the existing one, looked up with the
// same token.
func (c *Client) CreateUserSubscription(ctx context.Context, ts TokenSource, req eventsub.CreateRequest) (eventsub.Subscription, error) {
	if req.Version == "" {
		req.Version = eventsub.Version(req.Type)
	}
	desc := describe(req.Type, req.Condition)
	body, err := json.Marshal(req)
	if err != nil {
		return eventsub.Subscription{}, fmt.Errorf("helix: create user subscription %s: %w", desc, err)
	}
	var resp eventsub.ListResponse
	err = c.do(ctx, call{method: http.MethodPost, path: subscriptionsPath, body: body, ts: ts}, &resp)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
		subs, lerr := c.ListUserSubscriptions(ctx, ts, ListFilter{Type: req.Type})
		if lerr != nil {
			return eventsub.Subscription{}, fmt.Errorf("helix: create user subscription %s: adopt existing: %w (%w)", desc, lerr, err)
		}
		for _, s := range subs {
			if sameSubscription(s, req) && s.Status == eventsub.StatusEnabled {
				return s, nil
			}
		}
		return eventsub.Subscription{}, fmt.Errorf("helix: create user subscription %s: %w", desc, err)
	case err != nil:
		return eventsub.Subscription{}, fmt.Errorf("helix: create user subscription %s: %w", desc, err)
	case len(resp.Data) == 0:
		return eventsub.Subscription{}, fmt.Errorf("helix: create user subscription %s: empty answer", desc)
	}
	sub := resp.Data[0]
	c.log.InfoContext(ctx, "eventsub websocket subscription created",
		"subscription_id", sub.ID, "event_type", sub.Type, "status", sub.Status, "cost", sub.Cost)
	return sub, nil
}

// ListUserSubscriptions lists the subscriptions ts's user made (its WebSocket ones), one page
// of up to 100 (a user has at most 3 × 300).
func (c *Client) ListUserSubscriptions(ctx context.Context, ts TokenSource, f ListFilter) ([]eventsub.Subscription, error) {
	q, err := f.query()
	if err != nil {
		return nil, fmt.Errorf("helix: list user subscriptions: %w", err)
	}
	q.Set("first", "100")
	var resp eventsub.ListResponse
	if err := c.do(ctx, call{method: http.MethodGet, path: subscriptionsPath, query: q, ts: ts}, &resp); err != nil {
		return nil, fmt.Errorf("helix: list user subscriptions%s: %w", f.describe(), err)
	}
	return resp.Data, nil
}

// DeleteUserSubscription deletes a subscription ts's user made; ErrNotFound if Twitch does
// not know it (e.g. its session ended a while ago).
func (c *Client) DeleteUserSubscription(ctx context.Context, ts TokenSource, id string) error {
	if id == "" {
		return fmt.Errorf("helix: delete user subscription: empty id: %w", ErrBadRequest)
	}
	if err := c.do(ctx, call{method: http.MethodDelete, path: subscriptionsPath, query: url.Values{"id": {id}}, ts: ts}, nil); err != nil {
		return fmt.Errorf("helix: delete user subscription %s: %w", id, err)
	}
	c.log.InfoContext(ctx, "eventsub websocket subscription deleted", "subscription_id", id)
	return nil
}
