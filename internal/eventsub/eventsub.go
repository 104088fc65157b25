// Package eventsub holds the EventSub wire types and the webhook signature scheme shared by
// the Helix client, the callback receiver and the Twitch simulator (docs/TWITCH.md §3-5).
package eventsub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Subscription types used by twitchrelay, with the versions Twitch documents.
const (
	TypeChannelFollow = "channel.follow" // version 2
	TypeStreamOnline  = "stream.online"  // version 1
	TypeStreamOffline = "stream.offline" // version 1
	TypeChannelUpdate = "channel.update" // version 2
	TypeUserUpdate    = "user.update"    // version 1
	TypeChannelRaid   = "channel.raid"   // version 1
	// TypeChatNotification is channel.chat.notification v1: subs, gifts, raids, announcements
	// and the like as chat shows them (docs/TWITCH.md §5.2).
	TypeChatNotification = "channel.chat.notification"
)

// Version returns the version twitchrelay uses for a subscription type ("" if unknown).
func Version(typ string) string {
	switch typ {
	case TypeChannelFollow, TypeChannelUpdate:
		return "2"
	case TypeStreamOnline, TypeStreamOffline, TypeUserUpdate, TypeChannelRaid, TypeChatNotification:
		return "1"
	}
	return ""
}

// Webhook message headers (case-insensitive on the wire).
const (
	HeaderMessageID           = "Twitch-Eventsub-Message-Id"
	HeaderMessageRetry        = "Twitch-Eventsub-Message-Retry"
	HeaderMessageType         = "Twitch-Eventsub-Message-Type"
	HeaderMessageSignature    = "Twitch-Eventsub-Message-Signature"
	HeaderMessageTimestamp    = "Twitch-Eventsub-Message-Timestamp"
	HeaderSubscriptionType    = "Twitch-Eventsub-Subscription-Type"
	HeaderSubscriptionVersion = "Twitch-Eventsub-Subscription-Version"
)

// Webhook message types.
const (
	MessageTypeNotification = "notification"
	MessageTypeVerification = "webhook_callback_verification"
	MessageTypeRevocation   = "revocation"
)

// Subscription statuses.
const (
	StatusEnabled                      = "enabled"
	StatusVerificationPending          = "webhook_callback_verification_pending"
	StatusVerificationFailed           = "webhook_callback_verification_failed"
	StatusNotificationFailuresExceeded = "notification_failures_exceeded"
	StatusAuthorizationRevoked         = "authorization_revoked"
	StatusModeratorRemoved             = "moderator_removed"
	StatusUserRemoved                  = "user_removed"
	StatusVersionRemoved               = "version_removed"
)

// Transport is a subscription's transport. Secret is only ever sent on create.
type Transport struct {
	Method    string `json:"method"`
	Callback  string `json:"callback,omitempty"`
	Secret    string `json:"secret,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	ConduitID string `json:"conduit_id,omitempty"`
}

// Condition is a subscription's condition: field name to user id.
type Condition map[string]string

// Subscription is an EventSub subscription as Helix returns it and as it appears in messages.
type Subscription struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Type      string    `json:"type"`
	Version   string    `json:"version"`
	Cost      int       `json:"cost"`
	Condition Condition `json:"condition"`
	Transport Transport `json:"transport"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateRequest is the body of POST /helix/eventsub/subscriptions.
type CreateRequest struct {
	Type      string    `json:"type"`
	Version   string    `json:"version"`
	Condition Condition `json:"condition"`
	Transport Transport `json:"transport"`
}

// ListResponse is the body of a 202 create and of a list.
type ListResponse struct {
	Data         []Subscription `json:"data"`
	Total        int            `json:"total"`
	TotalCost    int            `json:"total_cost"`
	MaxTotalCost int            `json:"max_total_cost"`
	Pagination   struct {
		Cursor string `json:"cursor,omitempty"`
	} `json:"pagination"`
}

// Signature returns the value of Twitch-Eventsub-Message-Signature for a message:
// "sha256=" + hex(HMAC-SHA256(secret, id || timestamp || body)).
func Signature(secret []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports, in constant time, whether sig is the right signature.
func ValidSignature(secret []byte, id, timestamp string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Signature(secret, id, timestamp, body)), []byte(sig))
}
