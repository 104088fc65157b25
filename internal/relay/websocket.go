package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// The transport of a subscription is chosen per event type (Config.Transports, else
// Config.DefaultTransport):
//
//   - webhook: shared by (type, version, condition) across all sessions, created with the
//     app token and a session's callback (shares.go);
//   - websocket: made with the user's own token on the user's Twitch WebSocket session (one
//     per Twitch user with a page open, Config.WebSockets), shared by that user's relay
//     sessions and tabs only: its share key names the user.
//
// Both kinds are shareds, referenced and released the same way; a notification of either
// goes through the same matching (receivers), normalisation and hub. What differs is how it
// is created and deleted, and that the WebSocket session can be lost: Twitch then disables
// its subscriptions and replays nothing, so every share on it is dropped, each session that
// referenced one is subscribed again on the user's next session, and is told which span of
// time may be missing (an events_missing frame).

// UserSessions is the users' Twitch WebSocket sessions (*eventsubws.Pool satisfies it).
type UserSessions interface {
	// Session returns the id of userID's connected session, connecting one if needed.
	Session(ctx context.Context, userID string) (string, error)
	// Close disconnects userID's session: nothing of that user needs it any more.
	Close(userID string)
}

// UserHelix is what WebSocket subscriptions need of internal/helix (*helix.Client).
type UserHelix interface {
	CreateUserSubscription(ctx context.Context, ts helix.TokenSource, req eventsub.CreateRequest) (eventsub.Subscription, error)
	DeleteUserSubscription(ctx context.Context, ts helix.TokenSource, id string) error
}

// SessionLoss is a user's Twitch WebSocket session that ended without a reconnect.
type SessionLoss struct {
	SessionID string
	Code      int       // Twitch's close code, or eventsubws' negative codes (keepalive timeout, dial failed)
	Since     time.Time // the last message of the session
	At        time.Time
}

const (
	wsResubscribeTimeout = time.Minute // resubscribing after a loss, at most
	eventsMissingType    = "events_missing"
)

// fixedTransports are the types whose transport does not follow DefaultTransport: Twitch
// sends a plain viewer's chat notifications only over that viewer's own WebSocket session
// (docs/TWITCH.md §5.2, §8), so they take it in webhook mode too.
var fixedTransports = map[string]string{eventsub.TypeChatNotification: eventsub.TransportWebSocket}

// transportOf is the transport of typ's subscriptions.
func (m *Manager) transportOf(typ string) string {
	if t := m.cfg.Transports[typ]; t != "" {
		return t
	}
	if t := fixedTransports[typ]; t != "" {
		return t
	}
	if m.cfg.DefaultTransport != "" {
		return m.cfg.DefaultTransport
	}
	return eventsub.TransportWebhook
}

// keyFor is the share key of typ for s: per user for the websocket transport.
func (m *Manager) keyFor(typ string, s Session) string {
	key := shareKey(typ, condition(typ, s))
	if m.transportOf(typ) == eventsub.TransportWebSocket {
		key += "\x00websocket\x00" + s.UserID
	}
	return key
}

// errNoUserToken: a websocket subscription needs the user's token, and the session has none
// yet (adopted after a restart, before its page reconnected).
var errNoUserToken = errors.New("relay: no user token for a websocket subscription")

// errUserToken marks a failed create made with the user's token: its limits are the user's.
var errUserToken = errors.New("relay: websocket subscription")

// createWS creates typ for s on the user's Twitch WebSocket session.
func (m *Manager) createWS(ctx context.Context, s Session, typ string) (eventsub.Subscription, string, error) {
	if m.cfg.WebSockets == nil || m.cfg.UserHelix == nil {
		return eventsub.Subscription{}, "", errors.New("relay: websocket transport is not configured")
	}
	if s.UserToken == nil {
		return eventsub.Subscription{}, "", errNoUserToken
	}
	m.wsMu.Lock() // not while closeUnusedWS decides to close the user's session
	m.mu.Lock()
	m.wsWait[s.UserID]++
	m.mu.Unlock()
	m.wsMu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.wsWait[s.UserID]--; m.wsWait[s.UserID] <= 0 {
			delete(m.wsWait, s.UserID)
		}
		m.mu.Unlock()
	}()
	var lastErr error
	for range 2 { // the session may end between Session and the create: once more on the next
		wsid, err := m.cfg.WebSockets.Session(ctx, s.UserID)
		if err != nil {
			return eventsub.Subscription{}, "", fmt.Errorf("relay: twitch websocket session: %w", err)
		}
		req := eventsub.CreateRequest{Type: typ, Version: eventsub.Version(typ), Condition: condition(typ, s),
			Transport: eventsub.Transport{Method: eventsub.TransportWebSocket, SessionID: wsid}}
		sub, err := m.cfg.UserHelix.CreateUserSubscription(ctx, s.UserToken, req)
		if err == nil {
			return sub, wsid, nil
		}
		lastErr = fmt.Errorf("%w: %w", errUserToken, err)
		if !errors.Is(err, helix.ErrBadRequest) {
			break
		}
	}
	return eventsub.Subscription{}, "", lastErr
}

// deleteShare deletes a subscription in Twitch the way its transport needs: the app token
// for webhooks, the user's token for websocket ones (ts; a websocket subscription Twitch
// disabled already, or one without a token, needs nothing).
func (m *Manager) deleteShare(ctx context.Context, transport string, ts helix.TokenSource, id string) error {
	if transport != eventsub.TransportWebSocket {
		return m.deleteSub(ctx, id)
	}
	if ts == nil || m.cfg.UserHelix == nil {
		return nil
	}
	err := m.cfg.UserHelix.DeleteUserSubscription(ctx, ts, id)
	if err != nil && !errors.Is(err, helix.ErrNotFound) {
		m.hookError("delete subscription", err)
		return fmt.Errorf("relay: delete websocket subscription %s: %w", id, err)
	}
	return nil
}

// closeUnusedWS disconnects userID's Twitch session when nothing of that user uses it any
// more (no websocket subscription held or being made). A create that starts meanwhile
// waits for the decision (wsMu), so it never makes a subscription on a closing session.
func (m *Manager) closeUnusedWS(userID string) {
	if m.cfg.WebSockets == nil || userID == "" {
		return
	}
	m.wsMu.Lock()
	defer m.wsMu.Unlock()
	m.mu.Lock()
	used := m.wsWait[userID] > 0
	for _, sh := range m.shares {
		used = used || (sh.transport == eventsub.TransportWebSocket && sh.userID == userID)
	}
	for _, sh := range m.subs {
		used = used || (sh.transport == eventsub.TransportWebSocket && sh.userID == userID && len(sh.refs) > 0)
	}
	m.mu.Unlock()
	if !used {
		m.cfg.WebSockets.Close(userID) // does not wait
	}
}

// RouteWebSocket is Route for a message read from userID's Twitch WebSocket session (already
// de-duplicated by id, Duplicate set if the dedupe store had it): a notification for a
// subscription of that user's that a live session holds is delivered to those sessions,
// normalised as a webhook's; a revocation marks the feed revoked. Nothing to answer: there
// is no challenge on this transport.
func (m *Manager) RouteWebSocket(ctx context.Context, userID string, msg *webhook.Message) (Route, error) {
	if msg.Duplicate {
		return Route{Outcome: OutcomeDuplicate}, nil
	}
	sub := msg.Subscription
	if msg.SubscriptionType != sub.Type || msg.SubscriptionVersion != sub.Version {
		return Route{Outcome: OutcomeMismatch,
			Detail: fmt.Errorf("relay: metadata says %s v%s, payload %s v%s", msg.SubscriptionType, msg.SubscriptionVersion, sub.Type, sub.Version)}, nil
	}
	m.mu.Lock()
	sh := m.subs[sub.ID]
	var to []string
	outcome := ""
	switch {
	case sh == nil || len(sh.refs) == 0:
		outcome = OutcomeStray // it ends with its Twitch session, or when the user's sessions end
	case sh.transport != eventsub.TransportWebSocket || sh.userID != userID || !matches(sh, sub):
		outcome = OutcomeMismatch
	case msg.Type == eventsub.MessageTypeRevocation:
	case !usable(sh.status):
		outcome = OutcomeNotDelivering
	default:
		to = slices.Sorted(maps.Keys(sh.refs))
	}
	m.mu.Unlock()
	if outcome != "" {
		return Route{Outcome: outcome}, nil
	}
	switch msg.Type {
	case eventsub.MessageTypeNotification:
		return routeEvent(msg, to), nil
	case eventsub.MessageTypeRevocation:
		m.setShareStatus(ctx, sh, StatusRevoked, revocationReason(sub.Status), true)
		return Route{Outcome: OutcomeRevoked}, nil
	}
	return Route{Outcome: OutcomeUnknownMessage}, nil
}

// routeEvent normalises a notification's event for its receivers.
func routeEvent(msg *webhook.Message, to []string) Route {
	ev, err := webhook.Normalize(msg)
	switch {
	case err == nil:
		return Route{Outcome: OutcomeAccepted, Event: ev, To: to}
	case errors.Is(err, webhook.ErrUnknownType): // delivered as a generic event, logged at Warn
		return Route{Outcome: OutcomeUnknownType, Event: ev, To: to, Detail: err}
	}
	return Route{Outcome: OutcomeMalformedEvent, Detail: err}
}

// TwitchSessionLost handles the loss of userID's Twitch WebSocket session: its
// subscriptions are gone (Twitch disabled them and replays nothing). Every share on it is
// dropped, and each session that referenced one shows those feeds pending with the reason,
// is subscribed again on the user's next session (in the background), and then gets an
// events_missing frame for the span from the session's last message to the moment it was
// subscribed again.
func (m *Manager) TwitchSessionLost(userID string, l SessionLoss) {
	m.mu.Lock()
	var lost []*shared
	for _, sh := range m.subs {
		if sh.transport == eventsub.TransportWebSocket && sh.userID == userID && (sh.wsSession == l.SessionID || l.SessionID == "") {
			lost = append(lost, sh)
		}
	}
	for _, sh := range m.shares {
		if sh.transport == eventsub.TransportWebSocket && sh.userID == userID && sh.id == "" {
			lost = append(lost, sh) // a create in flight on the lost session fails by itself
		}
	}
	affected := map[string]*session{}
	for _, sh := range lost {
		maps.Copy(affected, sh.refs)
	}
	m.mu.Unlock()
	reason := reasonTwitchSessionLost(l.Code)
	m.log.Warn("twitch websocket session lost", "user_id", userID, "code", l.Code, "subscriptions", len(lost), "sessions", len(affected))
	for _, sh := range lost {
		if sh.id != "" {
			m.setShareStatus(context.Background(), sh, StatusPending, reason, true)
		}
	}
	if len(affected) == 0 {
		m.closeUnusedWS(userID)
		return
	}
	for _, ss := range affected {
		m.goBackground(func(ctx context.Context) { m.resubscribe(ctx, ss, l, reason) })
	}
}

// resubscribe subscribes a session's feeds again after its user's Twitch session was lost,
// then tells it which span of time may be missing.
func (m *Manager) resubscribe(ctx context.Context, ss *session, l SessionLoss, reason string) {
	ctx, cancel := context.WithTimeout(ctx, wsResubscribeTimeout)
	defer cancel()
	m.mu.Lock()
	live := m.sessions[ss.s.ID] == ss
	s := ss.s
	m.mu.Unlock()
	if !live {
		return
	}
	if err := m.subscribeFeeds(ctx, s, feedOrder...); err != nil && !errors.Is(err, ErrShuttingDown) {
		m.log.Warn("resubscribe after twitch session loss", "session", shortID(s.ID), "err", err)
	}
	if m.ctx.Err() != nil {
		return
	}
	until := m.cfg.Now()
	m.eventsMissing(s.ID, l.Since, until, reason)
	m.log.Info("resubscribed after twitch session loss", "session", shortID(s.ID), "gap", until.Sub(l.Since).Round(time.Millisecond))
}

// eventsMissing tells session sid that events of its websocket feeds between from and until
// may be missing (Twitch replays nothing).
func (m *Manager) eventsMissing(sid string, from, until time.Time, reason string) {
	b, _ := json.Marshal(struct {
		From   time.Time `json:"from"`
		Until  time.Time `json:"until"`
		Reason string    `json:"reason"`
	}{from.UTC(), until.UTC(), reason})
	m.cfg.Hub.PublishTo([]string{sid}, hub.Message{Type: eventsMissingType, Event: b, Time: until, Valid: true})
}
