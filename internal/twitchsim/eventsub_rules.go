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
	oneOf     bool     // the condition has exactly one of the fields, not all (channel.raid)
	// chatBot: with an app token (webhook) the authorizing user must also have granted
	// user:bot, and the broadcaster channel:bot or that user must moderate the channel
	// (channel.chat.notification); over WebSocket the scope alone is enough.
	chatBot bool
}

// subscriptionTypes are the types the simulator implements (docs/TWITCH.md §5).
var subscriptionTypes = map[string]typeRule{
	eventsub.TypeChannelFollow: {version: "2", condition: []string{"broadcaster_user_id", "moderator_user_id"},
		scope: "moderator:read:followers", authField: "moderator_user_id"},
	eventsub.TypeStreamOnline:  {version: "1", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeStreamOffline: {version: "1", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeChannelUpdate: {version: "2", condition: []string{"broadcaster_user_id"}},
	eventsub.TypeUserUpdate:    {version: "1", condition: []string{"user_id"}},
	eventsub.TypeChannelRaid: {version: "1", condition: []string{"from_broadcaster_user_id", "to_broadcaster_user_id"},
		oneOf: true},
	eventsub.TypeChatNotification: {version: "1", condition: []string{"broadcaster_user_id", "user_id"},
		scope: "user:read:chat", authField: "user_id", chatBot: true},
}

// matchesUser reports whether a subscription of this rule is about userID: its condition's
// first field (the broadcaster or the user) names it.
func (r typeRule) matchesUser(cond eventsub.Condition, userID string) bool {
	return cond[r.condition[0]] == userID
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
	if msg := s.checkTypeCondition(req); msg != "" {
		return bad("%s", msg)
	}
	rule := subscriptionTypes[req.Type]
	if msg := s.checkCallback(req.Transport.Callback); msg != "" {
		return bad("%s", msg)
	}
	if n := len(req.Transport.Secret); n < 10 || n > 100 || !isASCII(req.Transport.Secret) {
		return bad("invalid secret: it must be 10 to 100 ASCII characters")
	}
	if rule.scope != "" && !s.authorizes(rule, req.Condition) {
		return 0, &createError{status: http.StatusForbidden, message: "subscription missing proper authorization"}
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

// authorizes reports whether the users of cond granted what rule needs over the webhook
// transport (app token). Caller holds mu.
func (s *Sim) authorizes(rule typeRule, cond eventsub.Condition) bool {
	user, broadcaster := cond[rule.authField], cond["broadcaster_user_id"]
	if !s.hasScope(user, rule.scope) {
		return false
	}
	if rule.chatBot {
		return s.hasScope(user, "user:bot") && (s.hasScope(broadcaster, "channel:bot") || s.world.isModerator(user, broadcaster))
	}
	return s.world.isModerator(user, broadcaster)
}

// cost is 0 for a type that needs a scope, or when the condition's user has authorized the
// client; otherwise 1. Caller holds mu.
func (s *Sim) cost(typ string, cond eventsub.Condition) int {
	if subscriptionTypes[typ].scope != "" {
		return 0
	}
	for _, field := range []string{"broadcaster_user_id", "user_id", "from_broadcaster_user_id", "to_broadcaster_user_id"} {
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

// checkTypeCondition checks the type, version and condition of a create, whatever its
// transport. "" = fine. Caller holds mu.
func (s *Sim) checkTypeCondition(req eventsub.CreateRequest) string {
	rule, ok := subscriptionTypes[req.Type]
	if !ok || rule.version != req.Version {
		return fmt.Sprintf("unsupported subscription type %q version %q", req.Type, req.Version)
	}
	present := 0
	for _, field := range rule.condition {
		id, ok := req.Condition[field]
		if rule.oneOf && !ok {
			continue
		}
		present++
		if id == "" {
			return "invalid condition: missing " + field
		}
		if _, ok := s.world.users[id]; !ok {
			return fmt.Sprintf("invalid condition: %s %q is not a user", field, id)
		}
	}
	if rule.oneOf && present != 1 {
		return "invalid condition: exactly one of " + strings.Join(rule.condition, ", ") + " is required"
	}
	for field := range req.Condition {
		if !slices.Contains(rule.condition, field) {
			return fmt.Sprintf("invalid condition: unexpected field %s for %s", field, req.Type)
		}
	}
	return ""
}
