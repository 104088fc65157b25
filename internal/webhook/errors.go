package webhook

import (
	"errors"
	"net/http"
)

// Verification failures. Match them with errors.Is; StatusCode maps them to the answer Twitch
// should get.
var (
	// ErrTooLarge: the body is larger than Verifier.MaxBody.
	ErrTooLarge = errors.New("webhook: body too large")
	// ErrMissingHeader: a required Twitch-Eventsub-* header is absent.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrMalformed: a header is present but not well-formed, or the body could not be read.
	ErrMalformed = errors.New("webhook: malformed header")
	// ErrBadSignature: the signature does not match this session's secret. Callers must answer
	// it exactly like a callback for an unknown session (no oracle for valid session ids).
	ErrBadSignature = errors.New("webhook: bad signature")
	// ErrStale: the timestamp is outside the replay window (too old or in the future).
	ErrStale = errors.New("webhook: timestamp outside window")
	// ErrDuplicate: this message id was already accepted; it has been handled.
	ErrDuplicate = errors.New("webhook: duplicate message")
	// ErrDedupe: the de-duplication store failed; the message was not accepted and Twitch
	// should retry it.
	ErrDedupe = errors.New("webhook: dedupe store unavailable")
	// ErrMalformedBody: the signature is valid but the body is not the JSON Twitch sends.
	// The message id is marked seen; answer 2xx so Twitch does not retry it forever.
	ErrMalformedBody = errors.New("webhook: malformed body")
	// ErrUnknownType: Normalize got a subscription type it has no summary for. The event it
	// returns alongside is still usable (a generic one).
	ErrUnknownType = errors.New("webhook: unknown subscription type")
)

// StatusCode is the HTTP status a callback receiver answers for a Verify error:
// 413 too large, 400 missing/malformed headers, 403 bad signature or stale, 204 duplicate
// (already handled: Twitch must stop retrying), 503 dedupe store down (Twitch retries),
// 204 malformed body after a valid signature (never a retry storm), 500 otherwise.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale):
		return http.StatusForbidden
	case errors.Is(err, ErrDuplicate), errors.Is(err, ErrMalformedBody):
		return http.StatusNoContent
	case errors.Is(err, ErrDedupe):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Outcome is a short, stable label for an error, for logs and metrics ("accepted" for nil).
func Outcome(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrMalformed):
		return "malformed_headers"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrDuplicate):
		return "duplicate"
	case errors.Is(err, ErrDedupe):
		return "dedupe_error"
	case errors.Is(err, ErrMalformedBody):
		return "malformed_body"
	}
	return "error"
}
