package eventsub

import (
	"encoding/json"
	"time"
)

// EventSub WebSocket transport (docs/TWITCH.md §7): the message types of metadata.message_type.
// notification and revocation are MessageTypeNotification and MessageTypeRevocation.
const (
	MessageTypeWelcome   = "session_welcome"
	MessageTypeKeepalive = "session_keepalive"
	MessageTypeReconnect = "session_reconnect"
)

// Transport methods.
const (
	TransportWebhook   = "webhook"
	TransportWebSocket = "websocket"
)

// Statuses of a WebSocket subscription its session's disconnect disabled.
const (
	StatusWebSocketDisconnected         = "websocket_disconnected"
	StatusWebSocketFailedPingPong       = "websocket_failed_ping_pong"
	StatusWebSocketInboundTraffic       = "websocket_received_inbound_traffic"
	StatusWebSocketConnectionUnused     = "websocket_connection_unused"
	StatusWebSocketInternalError        = "websocket_internal_error"
	StatusWebSocketNetworkTimeout       = "websocket_network_timeout"
	StatusWebSocketNetworkError         = "websocket_network_error"
	StatusWebSocketFailedToReconnect    = "websocket_failed_to_reconnect"
	WebSocketMaxKeepaliveSeconds        = 600
	WebSocketMinKeepaliveSeconds        = 10
	WebSocketDefaultKeepaliveSeconds    = 10
	WebSocketMaxConnectionsPerUser      = 3
	WebSocketMaxSubscriptionsPerSession = 300
	WebSocketMaxTotalCost               = 10
)

// Close codes Twitch's EventSub WebSocket server closes a connection with.
const (
	CloseInternalError       = 4000
	CloseInboundTraffic      = 4001
	CloseFailedPingPong      = 4002
	CloseConnectionUnused    = 4003
	CloseReconnectGraceEnded = 4004
	CloseNetworkTimeout      = 4005
	CloseNetworkError        = 4006
	CloseInvalidReconnect    = 4007
)

// CloseStatus is the status Twitch gives the subscriptions of a session closed with code
// (a code outside 4000-4007, e.g. the client going away: websocket_disconnected).
func CloseStatus(code int) string {
	switch code {
	case CloseInternalError:
		return StatusWebSocketInternalError
	case CloseInboundTraffic:
		return StatusWebSocketInboundTraffic
	case CloseFailedPingPong:
		return StatusWebSocketFailedPingPong
	case CloseConnectionUnused:
		return StatusWebSocketConnectionUnused
	case CloseReconnectGraceEnded, CloseInvalidReconnect:
		return StatusWebSocketFailedToReconnect
	case CloseNetworkTimeout:
		return StatusWebSocketNetworkTimeout
	case CloseNetworkError:
		return StatusWebSocketNetworkError
	}
	return StatusWebSocketDisconnected
}

// WSMetadata is a WebSocket message's metadata.
type WSMetadata struct {
	MessageID           string    `json:"message_id"`
	MessageType         string    `json:"message_type"`
	MessageTimestamp    time.Time `json:"message_timestamp"`
	SubscriptionType    string    `json:"subscription_type,omitempty"`
	SubscriptionVersion string    `json:"subscription_version,omitempty"`
}

// WSMessage is one frame of the EventSub WebSocket server.
type WSMessage struct {
	Metadata WSMetadata `json:"metadata"`
	Payload  WSPayload  `json:"payload"`
}

// WSPayload is the payload of every message type: session for welcome and reconnect,
// subscription (and event, for a notification) otherwise; empty for a keepalive.
type WSPayload struct {
	Session      *WSSession      `json:"session,omitempty"`
	Subscription *Subscription   `json:"subscription,omitempty"`
	Event        json.RawMessage `json:"event,omitempty"`
}

// WSSession is the session object of session_welcome and session_reconnect.
type WSSession struct {
	ID                      string    `json:"id"`
	Status                  string    `json:"status"` // connected | reconnecting
	KeepaliveTimeoutSeconds *int      `json:"keepalive_timeout_seconds"`
	ReconnectURL            *string   `json:"reconnect_url"`
	ConnectedAt             time.Time `json:"connected_at"`
}
