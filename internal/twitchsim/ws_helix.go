package twitchsim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Helix for WebSocket subscriptions (docs/TWITCH.md §7): created, listed and deleted only
// with a user token; the session must be connected and, once a subscription was made on
// it, belong to that user. Limits per user token: 3 connections with enabled subscriptions,
// 300 enabled subscriptions per connection, max_total_cost 10.

// Messages of the 429s, matched by internal/helix's sentinels.
const (
	wsMsgTooManyConnections = "websocket transport: the user already has 3 websocket connections with enabled subscriptions"
	wsMsgSessionFull        = "websocket transport: the connection already has its maximum of enabled subscriptions (per-connection limit, 300)"
	wsMsgOverCost           = "websocket transport: the subscription would exceed max_total_cost"
)

// wsCreate serves a create with transport.method websocket. Caller holds mu; it writes
// the answer.
func (s *Sim) wsCreate(w http.ResponseWriter, req eventsub.CreateRequest, c caller) {
	if c.app() {
		helixError(w, http.StatusBadRequest, "websocket transport requires a user access token")
		return
	}
	if msg := s.checkTypeCondition(req); msg != "" {
		helixError(w, http.StatusBadRequest, msg)
		return
	}
	ws := s.ws.sessions[req.Transport.SessionID]
	if req.Transport.SessionID == "" || ws == nil || (ws.userID != "" && ws.userID != c.userID) {
		helixError(w, http.StatusBadRequest, "websocket transport session does not exist or has already disconnected")
		return
	}
	rule := subscriptionTypes[req.Type]
	if rule.scope != "" {
		authUser := req.Condition[rule.authField]
		if authUser != c.userID || !slices.Contains(c.scopes, rule.scope) || !s.world.isModerator(authUser, req.Condition["broadcaster_user_id"]) {
			helixError(w, http.StatusForbidden, "subscription missing proper authorization")
			return
		}
	}
	onSession, identical, cost := 0, 0, 0
	connections := map[string]bool{}
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.userID != c.userID || sb.Status != eventsub.StatusEnabled {
			continue
		}
		connections[sb.Transport.SessionID] = true
		cost += sb.Cost
		same := sb.Type == req.Type && sb.Version == req.Version && maps.Equal(sb.Condition, req.Condition)
		if sb.Transport.SessionID == ws.id {
			onSession++
			if same {
				writeJSON(w, http.StatusConflict, conflictBody{helixErrorBody{"Conflict", http.StatusConflict, "subscription already exists"}, sb.ID})
				return
			}
		}
		if same {
			identical++
		}
	}
	newCost := s.cost(req.Type, req.Condition)
	switch {
	case !connections[ws.id] && len(connections) >= eventsub.WebSocketMaxConnectionsPerUser:
		helixError(w, http.StatusTooManyRequests, wsMsgTooManyConnections)
		return
	case onSession >= orInt(s.cfg.WSSubscriptionsPerSession, eventsub.WebSocketMaxSubscriptionsPerSession):
		helixError(w, http.StatusTooManyRequests, wsMsgSessionFull)
		return
	case identical >= maxIdenticalSubs:
		helixError(w, http.StatusTooManyRequests,
			fmt.Sprintf("too many subscriptions with the same type, version and condition (max %d)", maxIdenticalSubs))
		return
	case cost+newCost > eventsub.WebSocketMaxTotalCost:
		helixError(w, http.StatusTooManyRequests, wsMsgOverCost)
		return
	}
	sb := &wsSub{userID: c.userID, Subscription: eventsub.Subscription{
		ID: newUUID(), Status: eventsub.StatusEnabled, Type: req.Type, Version: req.Version,
		Cost: newCost, Condition: clonedCondition(req.Condition), CreatedAt: s.now().UTC(),
		Transport: eventsub.Transport{Method: eventsub.TransportWebSocket, SessionID: ws.id},
	}}
	s.ws.subs[sb.ID] = sb
	s.ws.order = append(s.ws.order, sb.ID)
	ws.userID, ws.subscribed = c.userID, true
	s.notifyChanged()
	s.log.Info("websocket subscription created", "subscription_id", sb.ID, "event_type", sb.Type, "ws_session", ws.id, "cost", newCost)
	writeJSON(w, http.StatusAccepted, s.wsListResponse([]eventsub.Subscription{sb.Subscription}, c.userID))
}

// checkTypeCondition checks the type, version and condition of a create. "" = fine.
// Caller holds mu.
func (s *Sim) checkTypeCondition(req eventsub.CreateRequest) string {
	rule, ok := subscriptionTypes[req.Type]
	if !ok || rule.version != req.Version {
		return fmt.Sprintf("unsupported subscription type %q version %q", req.Type, req.Version)
	}
	for _, field := range rule.condition {
		id := req.Condition[field]
		if id == "" {
			return "invalid condition: missing " + field
		}
		if _, ok := s.world.users[id]; !ok {
			return fmt.Sprintf("invalid condition: %s %q is not a user", field, id)
		}
	}
	for field := range req.Condition {
		if !slices.Contains(rule.condition, field) {
			return fmt.Sprintf("invalid condition: unexpected field %s for %s", field, req.Type)
		}
	}
	return ""
}

// wsListResponse wraps data with the user's WebSocket totals. Caller holds mu.
func (s *Sim) wsListResponse(data []eventsub.Subscription, userID string) eventsub.ListResponse {
	resp := eventsub.ListResponse{Data: data, MaxTotalCost: eventsub.WebSocketMaxTotalCost}
	if resp.Data == nil {
		resp.Data = []eventsub.Subscription{}
	}
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.userID != userID {
			continue
		}
		resp.Total++
		if sb.Status == eventsub.StatusEnabled {
			resp.TotalCost += sb.Cost
		}
	}
	return resp
}

// pruneWSLocked forgets disabled WebSocket subscriptions after about a minute, as Twitch
// stops listing them. Caller holds mu.
func (s *Sim) pruneWSLocked() {
	now := s.now()
	s.ws.order = slices.DeleteFunc(s.ws.order, func(id string) bool {
		sb := s.ws.subs[id]
		if sb.Status != eventsub.StatusEnabled && !sb.disabledAt.IsZero() && now.Sub(sb.disabledAt) >= s.wsUnits(wsDisabledKept) {
			delete(s.ws.subs, id)
			return true
		}
		return false
	})
}

// wsList serves a list with a user token: that user's WebSocket subscriptions. Caller holds
// mu.
func (s *Sim) wsList(w http.ResponseWriter, r *http.Request, c caller, filters []string) {
	first, offset, msg := pageParams(r, 100, 100)
	if msg != "" {
		helixError(w, http.StatusBadRequest, msg)
		return
	}
	s.pruneWSLocked()
	q := r.URL.Query()
	var matched []eventsub.Subscription
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.userID == c.userID && matchesFilter(sb.Subscription, filters, q.Get) {
			matched = append(matched, sb.Subscription)
		}
	}
	data, cursor := page(matched, first, offset)
	resp := s.wsListResponse(slices.Clone(data), c.userID)
	resp.Pagination.Cursor = cursor
	writeJSON(w, http.StatusOK, resp)
}

// wsDelete serves a delete with a user token: only that user's WebSocket subscriptions.
// Caller holds mu.
func (s *Sim) wsDelete(w http.ResponseWriter, id string, c caller) {
	sb := s.ws.subs[id]
	if sb == nil || sb.userID != c.userID {
		helixError(w, http.StatusNotFound, "subscription not found")
		return
	}
	delete(s.ws.subs, id)
	s.ws.order = slices.DeleteFunc(s.ws.order, func(x string) bool { return x == id })
	s.notifyChanged()
	s.log.Info("websocket subscription deleted", "subscription_id", id)
	w.WriteHeader(http.StatusNoContent)
}
