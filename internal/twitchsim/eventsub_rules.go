package twitchsim

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// sub is a stored subscription: the public view plus what only the simulator knows.
type sub struct {
	eventsub.Subscription        // Transport.Secret is always empty here
	secret                string // the webhook secret
	failures              int    // notifications failed in a row
}

// typeRule is what Twitch requires of one subscription type.
type typeRule struct {
	version   string
	condition []string // exactly these fields, each a user id
	scope     string   // scope the condition's authorizing user must have granted, or ""
	authField string   // condition field naming that user
}

// subscriptionTypes are the types the simulator implements (docs/TWITCH.md §5).
var subscriptionTypes = map[string]typeRule{
	eventsub.TypeChannelFollow: {version: "2", condition: []string{"broadcaster_user_id", "moderator_user_id"},
		scope: "moderator:read:followers", authField: "moderator_user_id"},
	eventsub.TypeStreamOnline:  {version: "1", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeStreamOffline: {version: "1", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeChannelUpdate: {version: "2", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeUserUpdate:    {version: "1", condition: []string{"user_id"}},
}

// live reports whether a subscription counts for duplicates and cost.
func (sb *sub) live() bool {
	return sb.Status == eventsub.StatusEnabled || sb.Status == eventsub.StatusVerificationPending
}

// createError is a rejected create: the HTTP status, the message, and for 409 the id of the
// subscription that already exists.
type createError struct {
	status     int
	message    string
	existingID string
}

// checkCreate applies Twitch's rules to a create request and returns the cost it would
// have. Caller holds mu.
func (s *Sim) checkCreate(req eventsub.CreateRequest, c caller) (int, *createError) {
	bad := func(format string, args ...any) (int, *createError) {
		return 0, &createError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
	}
	switch req.Transport.Method {
	case "webhook":
	case "conduit":
		return bad("the simulator implements only the webhook transport, not %q", req.Transport.Method)
	default:
		return bad("invalid transport method %q", req.Transport.Method)
	}
	if !c.app() {
		return 0, &createError{status: http.StatusUnauthorized,
			message: "Invalid OAuth token: the webhook transport requires an app access token"}
	}
	rule, ok := subscriptionTypes[req.Type]
	if !ok || rule.version != req.Version {
		return bad("unsupported subscription type %q version %q", req.Type, req.Version)
	}
	for _, field := range rule.condition {
		id := req.Condition[field]
		if id == "" {
			return bad("invalid condition: missing %s", field)
		}
		if _, ok := s.world.users[id]; !ok {
			return bad("invalid condition: %s %q is not a user", field, id)
		}
	}
	for field := range req.Condition {
		if !slices.Contains(rule.condition, field) {
			return bad("invalid condition: unexpected field %s for %s", field, req.Type)
		}
	}
	if msg := s.checkCallback(req.Transport.Callback); msg != "" {
		return bad("%s", msg)
	}
	if n := len(req.Transport.Secret); n < 10 || n > 100 || !isASCII(req.Transport.Secret) {
		return bad("invalid secret: it must be 10 to 100 ASCII characters")
	}
	if rule.scope != "" {
		authUser := req.Condition[rule.authField]
		if !s.hasScope(authUser, rule.scope) || !s.world.isModerator(authUser, req.Condition["broadcaster_user_id"]) {
			return 0, &createError{status: http.StatusForbidden, message: "subscription missing proper authorization"}
		}
	}
	identical, totalCost := 0, 0
	for _, id := range s.subOrder {
		sb := s.subs[id]
		if !sb.live() {
			continue
		}
		totalCost += sb.Cost
		if sb.Type == req.Type && sb.Version == req.Version && maps.Equal(sb.Condition, req.Condition) {
			if sb.Transport.Callback == req.Transport.Callback {
				return 0, &createError{status: http.StatusConflict, message: "subscription already exists", existingID: sb.ID}
			}
			identical++
		}
	}
	if identical >= maxIdenticalSubs {
		return 0, &createError{status: http.StatusTooManyRequests,
			message: fmt.Sprintf("too many subscriptions with the same type, version and condition (max %d)", maxIdenticalSubs)}
	}
	cost := s.cost(req.Type, req.Condition)
	if totalCost+cost > s.cfg.MaxTotalCost {
		return 0, &createError{status: http.StatusTooManyRequests, message: "the subscription would exceed max_total_cost"}
	}
	return cost, nil
}

// cost is 0 for a type that needs a scope, or when the condition's user has authorized the
// client; otherwise 1. Caller holds mu.
func (s *Sim) cost(typ string, cond eventsub.Condition) int {
	if subscriptionTypes[typ].scope != "" {
		return 0
	}
	for _, field := range []string{"broadcaster_user_id", "user_id"} {
		if id := cond[field]; id != "" && s.authorized(id) {
			return 0
		}
	}
	return 1
}

// checkCallback enforces https on port 443, or, with AllowInsecureCallbacks, any http(s)
// URL on a loopback host. It returns "" when the callback is acceptable.
func (s *Sim) checkCallback(callback string) string {
	if callback == "" {
		return "invalid transport: missing callback"
	}
	u, err := url.Parse(callback)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return "invalid transport: callback must be an absolute URL"
	}
	if u.Scheme == "https" && (u.Port() == "" || u.Port() == "443") {
		return ""
	}
	if s.cfg.AllowInsecureCallbacks && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname()) {
		return ""
	}
	return "invalid transport: callback must use https on port 443"
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
