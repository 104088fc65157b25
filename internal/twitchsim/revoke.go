package twitchsim

import (
	"context"
	"fmt"
	"maps"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// ErrNotEnabled is returned when revoking a subscription that is not enabled: Twitch only
// sends revocations for subscriptions it delivers to.
var ErrNotEnabled = fmt.Errorf("twitchsim: subscription is not enabled")

// revokeLocked sets the subscription's status to reason and returns its signed revocation
// message (the body has the subscription only). Caller holds mu.
func (s *Sim) revokeLocked(sb *sub, reason string) message {
	sb.Status = reason
	s.notifyChanged()
	s.log.Info("subscription revoked", "subscription_id", sb.ID, "status", reason)
	pub := sb.Subscription
	return message{id: newUUID(), typ: eventsub.MessageTypeRevocation, sub: pub, secret: sb.secret,
		skew: s.misbehavior.TimestampSkew, body: mustJSON(struct {
			Subscription eventsub.Subscription `json:"subscription"`
		}{pub})}
}

// RevokeSubscription revokes an enabled subscription with reason (a status such as
// authorization_revoked, user_removed or version_removed; "" means authorization_revoked)
// and delivers the signed revocation.
func (s *Sim) RevokeSubscription(ctx context.Context, id, reason string) (Delivery, error) {
	if reason == "" {
		reason = eventsub.StatusAuthorizationRevoked
	}
	s.mu.Lock()
	sb, ok := s.subs[id]
	if !ok {
		s.mu.Unlock()
		return s.revokeWS(ctx, id, reason)
	}
	if sb.Status != eventsub.StatusEnabled {
		status := sb.Status
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("%w: %s is %s", ErrNotEnabled, id, status)
	}
	m := s.revokeLocked(sb, reason)
	s.mu.Unlock()
	ctx, cancel := s.deliveryCtx(ctx)
	defer cancel()
	return s.send(ctx, m), nil
}

// RevokeUser disconnects the client from a user's account, as when the user removes the
// app or changes password: the user's access and refresh tokens stop working, the grants
// are forgotten, and enabled subscriptions that relied on the user's authorization
// (channel.follow with the user as moderator_user_id) are revoked with
// authorization_revoked.
func (s *Sim) RevokeUser(ctx context.Context, login string) ([]Delivery, error) {
	s.mu.Lock()
	u, err := s.world.mustLogin(login)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	delete(s.grants, u.ID)
	maps.DeleteFunc(s.tokens, func(_ string, t *token) bool { return t.userID == u.ID })
	maps.DeleteFunc(s.refresh, func(_ string, g *refreshGrant) bool { return g.userID == u.ID })
	var msgs []message
	for _, id := range s.subOrder {
		sb := s.subs[id]
		rule := subscriptionTypes[sb.Type]
		if sb.Status == eventsub.StatusEnabled && rule.authField != "" && sb.Condition[rule.authField] == u.ID {
			msgs = append(msgs, s.revokeLocked(sb, eventsub.StatusAuthorizationRevoked))
		}
	}
	wsMsgs := s.revokeUserWSLocked(u.ID)
	s.mu.Unlock()
	ctx, cancel := s.deliveryCtx(ctx)
	defer cancel()
	var out []Delivery
	for _, m := range msgs {
		out = append(out, s.send(ctx, m))
	}
	return append(out, s.sendWS(ctx, wsMsgs, eventsub.MessageTypeRevocation)...), nil
}
