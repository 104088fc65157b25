package helix

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels for Helix failures. Match them with errors.Is.
var (
	ErrUnauthorized = errors.New("helix: unauthorized") // 401 (also after one retry with a fresh token)
	ErrForbidden    = errors.New("helix: forbidden")    // 403, e.g. a missing scope or not a moderator
	ErrNotFound     = errors.New("helix: not found")    // 404, or no such user
	ErrConflict     = errors.New("helix: conflict")     // 409 that could not be adopted
	ErrBadRequest   = errors.New("helix: bad request")  // 400, or a request refused before sending
	ErrRateLimited  = errors.New("helix: rate limited") // 429 that could not be waited out
	// ErrTooManyIdentical is Twitch's 429 for a 4th subscription with the same type, version
	// and condition (docs/TWITCH.md §3.1): not a rate limit, so waiting a minute won't help.
	ErrTooManyIdentical = errors.New("helix: too many identical subscriptions")
	// ErrOverCost is Twitch's 429 for going over the app's max_total_cost (§3.5).
	ErrOverCost = errors.New("helix: subscription cost limit reached")
	// ErrTooManyConnections is Twitch's 429 for a subscription on a 4th WebSocket connection
	// of one user token (§7).
	ErrTooManyConnections = errors.New("helix: too many websocket connections")
	// ErrSessionFull is Twitch's 429 for a 301st enabled subscription on one WebSocket
	// connection (§7).
	ErrSessionFull = errors.New("helix: websocket connection has 300 subscriptions")
	ErrUnavailable = errors.New("helix: unavailable") // 5xx or no answer, after retries
)

// APIError is a non-2xx answer from Helix. It matches the sentinel for its status via Is.
type APIError struct {
	Status   int
	Message  string // Twitch's "message"
	Endpoint string // e.g. "GET /users"

	body []byte // raw answer, for the 409 adoption
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: twitch %d: %s", e.Endpoint, e.Status, msg)
}

// Is reports whether target is the sentinel for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrTooManyIdentical:
		msg := strings.ToLower(e.Message)
		return e.Status == http.StatusTooManyRequests &&
			(strings.Contains(msg, "too many subscriptions") || strings.Contains(msg, "same type"))
	case ErrTooManyConnections:
		return e.Status == http.StatusTooManyRequests && strings.Contains(strings.ToLower(e.Message), "websocket connections")
	case ErrSessionFull:
		return e.Status == http.StatusTooManyRequests && strings.Contains(strings.ToLower(e.Message), "per-connection")
	case ErrOverCost:
		return e.Status == http.StatusTooManyRequests && strings.Contains(strings.ToLower(e.Message), "max_total_cost")
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// newAPIError reads Helix's error shape {"error":"Unauthorized","status":401,"message":".."}.
func newAPIError(endpoint string, status int, body []byte) *APIError {
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &eb) // best effort: a non-JSON body leaves the message empty
	msg := eb.Message
	if msg == "" {
		msg = eb.Error
	}
	return &APIError{Status: status, Message: msg, Endpoint: endpoint, body: body}
}
