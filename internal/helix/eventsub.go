package helix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

const subscriptionsPath = "/eventsub/subscriptions"

// ListFilter selects subscriptions to list. Twitch's filters are mutually exclusive: set at
// most one field. The zero value lists every subscription of the app.
type ListFilter struct {
	Status         string
	Type           string
	UserID         string // any user in the condition
	SubscriptionID string
}

func (f ListFilter) query() (url.Values, error) {
	q := url.Values{}
	for _, kv := range [...][2]string{
		{"status", f.Status}, {"type", f.Type}, {"user_id", f.UserID}, {"subscription_id", f.SubscriptionID},
	} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	if len(q) > 1 {
		return nil, fmt.Errorf("%d filters set, Twitch allows at most one: %w", len(q), ErrBadRequest)
	}
	return q, nil
}

// CreateSubscription creates an EventSub subscription with the app token. An empty
// Version is filled from eventsub.Version. When Twitch answers 409 (it already exists), the
// existing subscription (same type, condition and callback) is looked up and returned with a
// nil error. Errors name the type and condition, never the secret.
func (c *Client) CreateSubscription(ctx context.Context, req eventsub.CreateRequest) (eventsub.Subscription, error) {
	if req.Version == "" {
		req.Version = eventsub.Version(req.Type)
	}
	desc := describe(req.Type, req.Condition)
	body, err := json.Marshal(req)
	if err != nil {
		return eventsub.Subscription{}, fmt.Errorf("helix: create subscription %s: %w", desc, err)
	}
	var resp eventsub.ListResponse
	err = c.do(ctx, call{method: http.MethodPost, path: subscriptionsPath, body: body, ts: c.app}, &resp)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
		sub, aerr := c.adopt(ctx, req, apiErr)
		if aerr != nil {
			return eventsub.Subscription{}, fmt.Errorf("helix: create subscription %s: adopt existing: %w (%w)", desc, aerr, err)
		}
		c.log.InfoContext(ctx, "eventsub subscription already existed, adopted",
			"subscription_id", sub.ID, "event_type", sub.Type, "status", sub.Status)
		return sub, nil
	case err != nil:
		return eventsub.Subscription{}, fmt.Errorf("helix: create subscription %s: %w", desc, err)
	case len(resp.Data) == 0:
		return eventsub.Subscription{}, fmt.Errorf("helix: create subscription %s: empty answer", desc)
	}
	sub := resp.Data[0]
	c.log.InfoContext(ctx, "eventsub subscription created",
		"subscription_id", sub.ID, "event_type", sub.Type, "status", sub.Status, "cost", sub.Cost)
	return sub, nil
}

// adopt finds the subscription a 409 was about: by the id in the 409 body if there is one,
// else by listing the type and matching condition and callback.
func (c *Client) adopt(ctx context.Context, req eventsub.CreateRequest, conflict *APIError) (eventsub.Subscription, error) {
	if id := conflictID(conflict.body); id != "" {
		subs, err := c.ListSubscriptions(ctx, ListFilter{SubscriptionID: id})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return eventsub.Subscription{}, err
		}
		for _, s := range subs {
			if s.ID == id && sameSubscription(s, req) {
				return s, nil
			}
		}
	}
	subs, err := c.ListSubscriptions(ctx, ListFilter{Type: req.Type})
	if err != nil {
		return eventsub.Subscription{}, err
	}
	for _, s := range subs {
		if sameSubscription(s, req) {
			return s, nil
		}
	}
	return eventsub.Subscription{}, fmt.Errorf("no subscription with that condition and callback: %w", ErrConflict)
}

// conflictID digs the existing subscription's id out of a 409 body. Twitch added it in
// 2026 under a field name our reference has not seen (docs/TWITCH.md §3.1), so the likely
// shapes are all tried.
func conflictID(body []byte) string {
	var b struct {
		ID                     string `json:"id"`
		SubscriptionID         string `json:"subscription_id"`
		ExistingSubscriptionID string `json:"existing_subscription_id"`
		Data                   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	for _, id := range []string{b.ExistingSubscriptionID, b.SubscriptionID, b.ID} {
		if id != "" {
			return id
		}
	}
	if len(b.Data) > 0 {
		return b.Data[0].ID
	}
	return ""
}

func sameSubscription(s eventsub.Subscription, req eventsub.CreateRequest) bool {
	return s.Type == req.Type &&
		(req.Version == "" || s.Version == req.Version) &&
		maps.Equal(s.Condition, req.Condition) &&
		s.Transport.Method == req.Transport.Method &&
		s.Transport.Callback == req.Transport.Callback &&
		s.Transport.SessionID == req.Transport.SessionID &&
		s.Transport.ConduitID == req.Transport.ConduitID
}

// ListSubscriptions lists the app's subscriptions matching f, following every page.
func (c *Client) ListSubscriptions(ctx context.Context, f ListFilter) ([]eventsub.Subscription, error) {
	q, err := f.query()
	if err != nil {
		return nil, fmt.Errorf("helix: list subscriptions: %w", err)
	}
	var subs []eventsub.Subscription
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("helix: list subscriptions: more than %d pages", maxPages)
		}
		q.Set("first", strconv.Itoa(c.pageSize))
		var resp eventsub.ListResponse
		if err := c.do(ctx, call{method: http.MethodGet, path: subscriptionsPath, query: q, ts: c.app}, &resp); err != nil {
			return nil, fmt.Errorf("helix: list subscriptions%s: %w", f.describe(), err)
		}
		subs = append(subs, resp.Data...)
		cursor := resp.Pagination.Cursor
		if cursor == "" || len(resp.Data) == 0 {
			return subs, nil
		}
		if seen[cursor] {
			return nil, fmt.Errorf("helix: list subscriptions%s: pagination cursor repeated", f.describe())
		}
		seen[cursor] = true
		q.Set("after", cursor)
	}
}

func (f ListFilter) describe() string {
	q, _ := f.query()
	if len(q) == 0 {
		return ""
	}
	return " " + q.Encode()
}

// DeleteSubscription deletes a subscription. A subscription Twitch does not know gives an
// error matching ErrNotFound, which callers may treat as already deleted.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("helix: delete subscription: empty id: %w", ErrBadRequest)
	}
	q := url.Values{"id": {id}}
	if err := c.do(ctx, call{method: http.MethodDelete, path: subscriptionsPath, query: q, ts: c.app}, nil); err != nil {
		return fmt.Errorf("helix: delete subscription %s: %w", id, err)
	}
	c.log.InfoContext(ctx, "eventsub subscription deleted", "subscription_id", id)
	return nil
}

// describe renders "type{key=value,...}" with the condition keys sorted.
func describe(typ string, cond eventsub.Condition) string {
	keys := make([]string, 0, len(cond))
	for k := range cond {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + cond[k])
	}
	b.WriteByte('}')
	return b.String()
}
