package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Sentinels for the Twitch OAuth failures callers act on. Match them with errors.Is.
var (
	// ErrInvalidGrant: the authorization code is unknown, expired or already used, the
	// redirect_uri does not match, or the refresh token is invalid. The user must log in again.
	ErrInvalidGrant = errors.New("auth: invalid grant")
	// ErrInvalidClient: the client id or secret is wrong. A configuration problem.
	ErrInvalidClient = errors.New("auth: invalid client")
	// ErrInvalidToken: the access token is expired, revoked or unknown.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrNotSaved: a refreshed token could not be stored (UserTokenSource.SaveWith). Twitch
	// has already invalidated the old refresh token, so the new one is kept in memory and
	// saved by a later call; until then a restart would log the user out.
	ErrNotSaved = errors.New("auth: refreshed token not saved")
)

// Error is a failure answered by id.twitch.tv. It keeps Twitch's status and message, matches
// one of the sentinels (if any applies) and unwraps to the underlying error, e.g. an
// *oauth2.RetrieveError from the token endpoint.
type Error struct {
	Op      string // "exchange", "refresh", "app token", "validate", "revoke"
	Status  int    // HTTP status, 0 if none was received
	Message string // Twitch's "message" (never contains a token)
	Kind    error  // one of the sentinels, or nil
	Err     error  // underlying error, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("auth: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": twitch %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap exposes both the sentinel and the underlying error to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// twitchError is the error body of id.twitch.tv: {"status":400,"message":"Invalid refresh token"}.
// RFC 6749 fields are read too, in case an endpoint answers that way.
type twitchError struct {
	Status           int    `json:"status"`
	Message          string `json:"message"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func parseTwitchError(body []byte) twitchError {
	var te twitchError
	_ = json.Unmarshal(body, &te) // best effort: a non-JSON body leaves the zero value
	if te.Message == "" {
		te.Message = te.ErrorDescription
	}
	if te.Message == "" && te.Error != "" {
		te.Message = te.Error
	}
	return te
}

// tokenError maps a failure of the token endpoint (exchange, refresh, client credentials).
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		// Transport failure, context error or a malformed answer: no Twitch status.
		return &Error{Op: op, Err: err}
	}
	te := parseTwitchError(re.Body)
	status := te.Status
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code := re.ErrorCode
	if code == "" {
		code = te.Error
	}
	msg := te.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Op: op, Status: status, Message: msg, Kind: classifyToken(status, code, msg), Err: re}
}

// classifyToken picks the sentinel for a token endpoint error. Twitch does not send RFC 6749
// error codes, only a status and a message, so the message decides.
func classifyToken(status int, code, msg string) error {
	m := strings.ToLower(msg)
	switch {
	case code == "invalid_client", strings.Contains(m, "client"):
		return ErrInvalidClient
	case code == "invalid_grant",
		strings.Contains(m, "code"),
		strings.Contains(m, "refresh token"),
		strings.Contains(m, "redirect_uri"),
		strings.Contains(m, "grant"):
		return ErrInvalidGrant
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrInvalidClient
	}
	return nil
}

// apiError maps a non-2xx answer of /validate or /revoke.
func apiError(op string, status int, body []byte) error {
	te := parseTwitchError(body)
	msg := te.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	var kind error
	m := strings.ToLower(msg)
	switch {
	case status == http.StatusUnauthorized:
		kind = ErrInvalidToken
	case strings.Contains(m, "client"):
		kind = ErrInvalidClient
	case strings.Contains(m, "token"):
		kind = ErrInvalidToken
	}
	return &Error{Op: op, Status: status, Message: msg, Kind: kind}
}
