package twitchsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// ErrUnknownWSSession: no connected EventSub WebSocket session has that id.
var ErrUnknownWSSession = errors.New("twitchsim: unknown websocket session")

// WSSession is a connected EventSub WebSocket session, as tests see it.
type WSSession struct {
	ID               string `json:"id"`
	UserID           string `json:"user_id"` // the user whose token subscribed on it; "" before
	KeepaliveSeconds int    `json:"keepalive_seconds"`
	Subscribed       bool   `json:"subscribed"`
	Reconnecting     bool   `json:"reconnecting"` // session_reconnect sent, the client not yet on the new URL
	Connections      int    `json:"connections"`  // 2 while the old connection of a reconnect is still open
}

// WSSessions returns the connected sessions.
func (s *Sim) WSSessions() []WSSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wsSessionsLocked()
}

func (s *Sim) wsSessionsLocked() []WSSession {
	out := make([]WSSession, 0, len(s.ws.sessions))
	for _, ws := range s.ws.sessions {
		n := 1
		if ws.old != nil {
			n = 2
		}
		out = append(out, WSSession{ID: ws.id, UserID: ws.userID, KeepaliveSeconds: ws.keepalive, Subscribed: ws.subscribed,
			Reconnecting: ws.reconnectID != "", Connections: n})
	}
	slices.SortFunc(out, func(a, b WSSession) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// WaitWSSessions waits until cond holds for the connected sessions and returns them.
func (s *Sim) WaitWSSessions(ctx context.Context, cond func([]WSSession) bool) ([]WSSession, error) {
	for {
		s.mu.Lock()
		now, changed := s.wsSessionsLocked(), s.changed
		s.mu.Unlock()
		if cond(now) {
			return now, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return now, fmt.Errorf("twitchsim: waiting for websocket sessions (%d now): %w", len(now), ctx.Err())
		}
	}
}

// WSSubscriptions returns every WebSocket subscription still listed, oldest first.
func (s *Sim) WSSubscriptions() []eventsub.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]eventsub.Subscription, 0, len(s.ws.order))
	for _, id := range s.ws.order {
		p := s.ws.subs[id].Subscription
		p.Condition = clonedCondition(p.Condition)
		out = append(out, p)
	}
	return out
}

// WaitWSSubscriptions waits until cond holds for the WebSocket subscriptions.
func (s *Sim) WaitWSSubscriptions(ctx context.Context, cond func([]eventsub.Subscription) bool) ([]eventsub.Subscription, error) {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		now := s.WSSubscriptions()
		if cond(now) {
			return now, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return now, fmt.Errorf("twitchsim: waiting for websocket subscriptions (%d now): %w", len(now), ctx.Err())
		}
	}
}

// ReconnectWSSession sends session_reconnect on a session's connection, with a reconnect
// URL on the host the client dialled. Subscriptions carry over to the new connection; the old
// one is closed after the grace time (30 WSSeconds), with 4004 if the client never came.
func (s *Sim) ReconnectWSSession(id string) error {
	s.mu.Lock()
	ws := s.ws.sessions[id]
	if ws == nil || ws.reconnectID != "" {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s (or already reconnecting)", ErrUnknownWSSession, id)
	}
	rid := randomToken(24)
	ws.reconnectID = rid
	s.ws.reconnects[rid] = id
	u := reconnectURL(ws.host, ws.tls, rid)
	frame := s.wsFrame(eventsub.MessageTypeReconnect, "", "", eventsub.WSPayload{Session: &eventsub.WSSession{
		ID: id, Status: "reconnecting", ReconnectURL: &u, ConnectedAt: ws.connectedAt}})
	conn := ws.conn
	s.notifyChanged()
	s.mu.Unlock()
	conn.markReconnect()
	return conn.write(s.ctx, frame)
}

// CloseWSSession closes a session's connection with code (4000-4007, or any other), as
// Twitch does; its subscriptions are disabled with the matching status.
func (s *Sim) CloseWSSession(id string, code int, reason string) error {
	s.mu.Lock()
	ws := s.ws.sessions[id]
	s.mu.Unlock()
	if ws == nil {
		return fmt.Errorf("%w: %s", ErrUnknownWSSession, id)
	}
	ws.conn.requestClose(code, reason)
	return nil
}

// SilenceWSSession stops every frame but Ping on a session's connection, as a network that
// went dead without a close would: the client sees no keepalive any more.
func (s *Sim) SilenceWSSession(id string) error {
	s.mu.Lock()
	ws := s.ws.sessions[id]
	s.mu.Unlock()
	if ws == nil {
		return fmt.Errorf("%w: %s", ErrUnknownWSSession, id)
	}
	ws.conn.wmu.Lock()
	ws.conn.silenced = true
	ws.conn.wmu.Unlock()
	return nil
}

// revokeWS revokes an enabled WebSocket subscription and sends the revocation on its
// session's connection.
func (s *Sim) revokeWS(ctx context.Context, id, reason string) (Delivery, error) {
	s.mu.Lock()
	sb := s.ws.subs[id]
	if sb == nil {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("%w: %s", ErrUnknownSubscription, id)
	}
	if sb.Status != eventsub.StatusEnabled {
		status := sb.Status
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("%w: %s is %s", ErrNotEnabled, id, status)
	}
	sb.Status, sb.disabledAt = reason, s.now()
	pub := sb.Subscription
	var conn *wsConn
	if ws := s.ws.sessions[sb.Transport.SessionID]; ws != nil {
		conn = ws.conn
	}
	frame := s.wsFrame(eventsub.MessageTypeRevocation, pub.Type, pub.Version, eventsub.WSPayload{Subscription: &pub})
	s.notifyChanged()
	s.mu.Unlock()
	s.log.Info("websocket subscription revoked", "subscription_id", id, "status", reason)
	d := Delivery{SubscriptionID: id, MessageType: eventsub.MessageTypeRevocation, Callback: "websocket:" + pub.Transport.SessionID, Attempts: 1}
	if conn == nil {
		d.Err = ErrUnknownWSSession
		return d, nil
	}
	d.Err = conn.write(ctx, frame)
	return d, nil
}

// revokeUserWSLocked revokes the enabled WebSocket subscriptions of a user (RevokeUser) and
// returns their revocations. Caller holds mu.
func (s *Sim) revokeUserWSLocked(userID string) []wsOut {
	var out []wsOut
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.userID != userID || sb.Status != eventsub.StatusEnabled {
			continue
		}
		sb.Status, sb.disabledAt = eventsub.StatusAuthorizationRevoked, s.now()
		pub := sb.Subscription
		if ws := s.ws.sessions[sb.Transport.SessionID]; ws != nil {
			out = append(out, wsOut{conn: ws.conn, ws: ws, sub: pub,
				frame: s.wsFrame(eventsub.MessageTypeRevocation, pub.Type, pub.Version, eventsub.WSPayload{Subscription: &pub})})
		}
	}
	if len(out) > 0 {
		s.notifyChanged()
	}
	return out
}

// wsOut is one frame for one connection, written outside mu.
type wsOut struct {
	conn  *wsConn
	ws    *wsSession
	sub   eventsub.Subscription
	frame []byte
}

// wsTargetsLocked returns the notification of event to every enabled WebSocket
// subscription of typ whose condition about accepts. Caller holds mu.
func (s *Sim) wsTargetsLocked(typ string, about func(eventsub.Condition) bool, event any) []wsOut {
	var out []wsOut
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.Type != typ || sb.Status != eventsub.StatusEnabled || !about(sb.Condition) {
			continue
		}
		ws := s.ws.sessions[sb.Transport.SessionID]
		if ws == nil {
			continue
		}
		pub := sb.Subscription
		frame := s.wsFrame(eventsub.MessageTypeNotification, pub.Type, pub.Version,
			eventsub.WSPayload{Subscription: &pub, Event: mustJSON(event)})
		ws.lastNote = frame
		out = append(out, wsOut{conn: ws.conn, ws: ws, sub: pub, frame: frame})
	}
	return out
}

// sendWS writes each frame to its connection, one after the other.
func (s *Sim) sendWS(ctx context.Context, outs []wsOut, typ string) []Delivery {
	var ds []Delivery
	for _, o := range outs {
		d := Delivery{SubscriptionID: o.sub.ID, MessageType: typ, Callback: "websocket:" + o.sub.Transport.SessionID, Attempts: 1}
		if o.ws == nil {
			d.Err = o.conn.write(ctx, o.frame)
		} else {
			// To the connection current when it is written (a reconnect may have switched it).
			o.ws.sendMu.Lock()
			s.mu.Lock()
			cur, live := o.ws.conn, s.ws.sessions[o.ws.id] == o.ws
			s.mu.Unlock()
			d.Err = ErrUnknownWSSession
			if live {
				d.Err = cur.write(ctx, o.frame)
			}
			o.ws.sendMu.Unlock()
		}
		ds = append(ds, d)
	}
	return ds
}
