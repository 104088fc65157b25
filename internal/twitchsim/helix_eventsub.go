package twitchsim

import (
	"context"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// conflictBody is the 409 answer. Since 2026-04-17 Twitch includes the id of the existing
// subscription; its field name was not seen in the docs, so the simulator calls it "id":
// {"error":"Conflict","status":409,"message":"subscription already exists","id":"<uuid>"}.
type conflictBody struct {
	helixErrorBody
	ID string `json:"id"`
}

// helixCreateSubscription serves POST /helix/eventsub/subscriptions: 202 and, in the
// background, the callback verification.
func (s *Sim) helixCreateSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		helixError(w, http.StatusBadRequest, "Malformed request: Content-Type must be application/json")
		return
	}
	var req eventsub.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		helixError(w, http.StatusBadRequest, "Malformed request: the body must be a JSON subscription")
		return
	}
	s.mu.Lock()
	if req.Transport.Method == eventsub.TransportWebSocket {
		s.wsCreate(w, req, c)
		s.mu.Unlock()
		return
	}
	cost, cerr := s.checkCreate(req, c)
	if cerr != nil {
		s.mu.Unlock()
		if cerr.status == http.StatusConflict {
			writeJSON(w, cerr.status, conflictBody{helixErrorBody{"Conflict", cerr.status, cerr.message}, cerr.existingID})
			return
		}
		helixError(w, cerr.status, cerr.message)
		return
	}
	sb := &sub{secret: req.Transport.Secret, Subscription: eventsub.Subscription{
		ID: newUUID(), Status: eventsub.StatusVerificationPending, Type: req.Type, Version: req.Version,
		Cost: cost, Condition: clonedCondition(req.Condition), CreatedAt: s.now().UTC(),
		Transport: eventsub.Transport{Method: "webhook", Callback: req.Transport.Callback},
	}}
	s.subs[sb.ID] = sb
	s.subOrder = append(s.subOrder, sb.ID)
	s.notifyChanged()
	resp := s.listResponse([]eventsub.Subscription{sb.Subscription}, c.clientID)
	s.mu.Unlock()

	s.log.Info("subscription created", "subscription_id", sb.ID, "event_type", sb.Type, "cost", cost)
	writeJSON(w, http.StatusAccepted, resp)
	id := sb.ID
	s.goAsync(func(ctx context.Context) { s.verify(ctx, id) })
}

// listResponse wraps data with total, total_cost and max_total_cost. Caller holds mu.
func (s *Sim) listResponse(data []eventsub.Subscription, clientID string) eventsub.ListResponse {
	resp := eventsub.ListResponse{Data: data, MaxTotalCost: s.cfg.MaxTotalCost}
	if resp.Data == nil {
		resp.Data = []eventsub.Subscription{}
	}
	if clientID != s.cfg.ClientID {
		return resp
	}
	for _, id := range s.subOrder {
		sb := s.subs[id]
		resp.Total++
		if sb.live() {
			resp.TotalCost += sb.Cost
		}
	}
	return resp
}

// helixListSubscriptions serves GET /helix/eventsub/subscriptions, oldest first, with one
// optional filter (status, type, user_id, subscription_id, conduit_id) and pagination.
// App tokens see the webhook subscriptions; user tokens see their websocket ones, and the
// simulator has none.
func (s *Sim) helixListSubscriptions(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	var filters []string
	for _, f := range []string{"status", "type", "user_id", "subscription_id", "conduit_id"} {
		if q.Get(f) != "" {
			filters = append(filters, f)
		}
	}
	if len(filters) > 1 {
		helixError(w, http.StatusBadRequest, "The filters "+strings.Join(filters, ", ")+" are mutually exclusive: use only one")
		return
	}
	first, offset, msg := pageParams(r, 100, 100)
	if msg != "" {
		helixError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.app() { // user tokens see their WebSocket subscriptions
		s.wsList(w, r, c, filters)
		return
	}
	var matched []eventsub.Subscription
	for _, id := range s.subOrder {
		sb := s.subs[id]
		if !c.app() || !matchesFilter(sb.Subscription, filters, q.Get) {
			continue
		}
		matched = append(matched, sb.Subscription)
	}
	data, cursor := page(matched, first, offset)
	clientID := c.clientID
	if !c.app() {
		clientID = ""
	}
	resp := s.listResponse(slices.Clone(data), clientID)
	resp.Pagination.Cursor = cursor
	writeJSON(w, http.StatusOK, resp)
}

func matchesFilter(sub eventsub.Subscription, filters []string, get func(string) string) bool {
	if len(filters) == 0 {
		return true
	}
	v := get(filters[0])
	switch filters[0] {
	case "status":
		return sub.Status == v
	case "type":
		return sub.Type == v
	case "user_id":
		return slices.Contains(slices.Collect(maps.Values(sub.Condition)), v)
	case "subscription_id":
		return sub.ID == v
	}
	return false // conduit_id: the simulator has no conduits
}

// helixDeleteSubscription serves DELETE /helix/eventsub/subscriptions?id=..: 204 or 404.
func (s *Sim) helixDeleteSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.URL.Query().Get("id")
	if id == "" {
		helixError(w, http.StatusBadRequest, "Missing required parameter \"id\"")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.app() {
		s.wsDelete(w, id, c)
		return
	}
	if _, ok := s.subs[id]; !ok {
		helixError(w, http.StatusNotFound, "subscription not found")
		return
	}
	delete(s.subs, id)
	s.subOrder = slices.DeleteFunc(s.subOrder, func(x string) bool { return x == id })
	s.notifyChanged()
	s.log.Info("subscription deleted", "subscription_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// Subscriptions returns every subscription, oldest first, without secrets.
func (s *Sim) Subscriptions() []eventsub.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]eventsub.Subscription, 0, len(s.subOrder))
	for _, id := range s.subOrder {
		out = append(out, s.subs[id].public())
	}
	return out
}

// public returns a copy of the subscription that callers may keep and change.
func (sb *sub) public() eventsub.Subscription {
	p := sb.Subscription
	p.Condition = clonedCondition(p.Condition)
	return p
}

func clonedCondition(c eventsub.Condition) eventsub.Condition {
	return eventsub.Condition(maps.Clone(map[string]string(c)))
}
