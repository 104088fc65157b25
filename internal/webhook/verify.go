package webhook

import (
	"context"
	"encoding/json"

	"github.com/go-json-experiment/json/jsontext"

	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// Limits and defaults of the Verifier.
const (
	DefaultMaxBody = 64 << 10          // bytes; Twitch's notifications are a few KiB
	DefaultWindow  = 10 * time.Minute  // docs/TWITCH.md §4.4: reject older than 10 minutes
	DedupeTTL      = 2 * DefaultWindow // how long accepted ids are remembered (Deduper)
	maxIDLen       = 256               // a message id longer than this is not Twitch's
	signaturePfx   = "sha256="
)

// Message is a verified webhook message: headers first, then the parsed body.
type Message struct {
	ID                  string // Twitch-Eventsub-Message-Id
	Type                string // notification | webhook_callback_verification | revocation | ...
	Retry               int
	Timestamp           time.Time
	SubscriptionType    string // header, or the body's subscription.type when the header is absent
	SubscriptionVersion string
	Subscription        eventsub.Subscription
	Event               json.RawMessage // notification only
	Challenge           string          // webhook_callback_verification only
	// Duplicate: the id was already accepted (Verify returned ErrDuplicate with the whole
	// message). Twitch resends a message whose answer it did not get, a challenge included.
	Duplicate bool

	dedupeKey string
}

// Deduper remembers accepted message ids so that a message Twitch delivers again is handled
// once (internal/store has one in memory and one on Redis). Implementations must be safe for
// concurrent use.
type Deduper interface {
	// Seen marks id and reports whether it was already marked, atomically: of two concurrent
	// calls with the same id exactly one returns false. Marks expire after DedupeTTL. An error
	// means nothing is known: fail closed.
	Seen(ctx context.Context, id string) (bool, error)
	// Forget removes the mark, so that Twitch's retry of a message whose handling failed after
	// it was marked is accepted.
	Forget(ctx context.Context, id string) error
}

// Verifier checks webhook callbacks on the raw bytes before anything is parsed. It is safe for
// concurrent use; the zero values of MaxBody, Window and Now take the defaults.
type Verifier struct {
	ServerSecret []byte           // secrets are derived per session with Secret
	Dedupe       Deduper          // nil disables de-duplication (tests of the verifier only)
	Now          func() time.Time // default time.Now
	MaxBody      int64            // default DefaultMaxBody
	Window       time.Duration    // default DefaultWindow; accepted timestamps are now±Window
	// IdempotentNotifications: notifications are not marked in Dedupe (Duplicate is never
	// set for one), because the caller stores them idempotently by message id itself: Redis
	// mode's broker remembers every appended message id for DedupeTTL and appends a repeated
	// one never again. That saves the callback a round trip to Redis. Challenges and
	// revocations are marked as before.
	IdempotentNotifications bool

	secretBase atomic.Pointer[secretStates] // see states (mac.go)
	scratches  sync.Pool                    // of *scratch (mac.go)
}

// Verify checks r as a callback for sessionID, cheapest first, so that nothing is read or
// allocated for a request its headers already condemn: announced body size (ErrTooLarge),
// headers (ErrMissingHeader, ErrMalformed), timestamp window (ErrStale), then the body, read
// as it arrives and never more than MaxBody (ErrTooLarge; a failed read is ErrMalformed
// wrapping the reader's error), signature with the session's derived secret
// (ErrBadSignature), duplicate message id (ErrDuplicate, or ErrDedupe when the store fails),
// and only then the JSON body (ErrMalformedBody).
//
// Verify never looks at whether the session exists: a callback for an unknown session fails
// with ErrBadSignature unless it was signed with that session's derived secret.
// For ErrStale, ErrDedupe and ErrMalformedBody the returned Message carries the header
// fields (for logging; for ErrStale they are unverified); for ErrDuplicate it is the whole
// message with Duplicate set (a challenge sent again must be answered again); otherwise it
// is nil.
func (v *Verifier) Verify(r *http.Request, sessionID string) (*Message, error) {
	maxBody := v.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.ContentLength > maxBody {
		return nil, ErrTooLarge
	}
	msg, sig, ts, err := parseHeaders(r.Header)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	window := v.Window
	if window <= 0 {
		window = DefaultWindow
	}
	// The window is checked on the unverified header before the body is read: a stale or
	// future timestamp fails either way, and a forgery costs no read. A genuine message
	// outside the window is refused as before.
	if age := now().Sub(msg.Timestamp); age > window || age < -window {
		return msg, fmt.Errorf("%w: %s off", ErrStale, age.Round(time.Second))
	}
	sc := v.scratch()
	defer v.release(sc) // parseBody copies what it keeps: nothing refers to the body after this
	body, err := readBody(sc, r.Body, maxBody)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("%w: read body: %w", ErrMalformed, err)
	}
	if !v.validSignature(sc, sessionID, msg.ID, ts, body, sig) {
		return nil, ErrBadSignature
	}
	if v.Dedupe != nil && !(v.IdempotentNotifications && msg.Type == eventsub.MessageTypeNotification) {
		msg.dedupeKey = sessionID + ":" + msg.ID
		seen, err := v.Dedupe.Seen(r.Context(), msg.dedupeKey)
		if err != nil {
			return msg, fmt.Errorf("%w: %v", ErrDedupe, err)
		}
		msg.Duplicate = seen
	}
	err = parseBody(msg, body)
	switch {
	case msg.Duplicate:
		return msg, ErrDuplicate // already handled, whatever its body says now
	case err != nil:
		return msg, err
	}
	return msg, nil
}

// Forget unmarks msg in the dedupe store, so that Twitch's retry of a message we failed to
// handle is accepted. It is a no-op for messages that were not marked.
func (v *Verifier) Forget(ctx context.Context, msg *Message) error {
	if v.Dedupe == nil || msg == nil || msg.dedupeKey == "" {
		return nil
	}
	return v.Dedupe.Forget(ctx, msg.dedupeKey)
}

// parseHeaders checks the required headers and returns the message with its header fields,
// the signature and the timestamp exactly as received (they are signed as sent).
func parseHeaders(h http.Header) (msg *Message, sig, ts string, err error) {
	id := header(h, eventsub.HeaderMessageID)
	typ := header(h, eventsub.HeaderMessageType)
	sig = header(h, eventsub.HeaderMessageSignature)
	ts = header(h, eventsub.HeaderMessageTimestamp)
	for _, hv := range [...][2]string{
		{eventsub.HeaderMessageID, id}, {eventsub.HeaderMessageType, typ},
		{eventsub.HeaderMessageSignature, sig}, {eventsub.HeaderMessageTimestamp, ts},
	} {
		if hv[1] == "" {
			return nil, "", "", fmt.Errorf("%w: %s", ErrMissingHeader, hv[0])
		}
	}
	if len(id) > maxIDLen {
		return nil, "", "", fmt.Errorf("%w: message id longer than %d", ErrMalformed, maxIDLen)
	}
	if !validSignatureFormat(sig) {
		return nil, "", "", fmt.Errorf("%w: signature is not sha256=<64 hex>", ErrMalformed)
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: timestamp is not RFC 3339", ErrMalformed)
	}
	retry := 0
	if s := header(h, eventsub.HeaderMessageRetry); s != "" {
		if retry, err = strconv.Atoi(s); err != nil || retry < 0 {
			return nil, "", "", fmt.Errorf("%w: retry is not a count", ErrMalformed)
		}
	}
	return &Message{
		ID:                  id,
		Type:                typ,
		Retry:               retry,
		Timestamp:           at,
		SubscriptionType:    header(h, eventsub.HeaderSubscriptionType),
		SubscriptionVersion: header(h, eventsub.HeaderSubscriptionVersion),
	}, sig, ts, nil
}

// header is h.Get(key) for a key already in canonical form (every eventsub.Header*
// constant is: TestHeaderNamesAreCanonical), without canonicalising it again on every call.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func validSignatureFormat(sig string) bool {
	hexPart, ok := strings.CutPrefix(sig, signaturePfx)
	if !ok || len(hexPart) != 64 {
		return false
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// wireMessage is the body of every webhook message type.
type wireMessage struct {
	Subscription eventsub.Subscription `json:"subscription"`
	Event        json.RawMessage       `json:"event"`
	Challenge    string                `json:"challenge"`
}

// parseBody fills msg from a body whose signature was already checked.
func parseBody(msg *Message, body []byte) error {
	var w wireMessage
	if err := jsonv2.Unmarshal(body, &w, jsonOptions); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	msg.Subscription = w.Subscription
	msg.Event = w.Event
	msg.Challenge = w.Challenge
	if msg.SubscriptionType == "" {
		msg.SubscriptionType = w.Subscription.Type
	}
	if msg.SubscriptionVersion == "" {
		msg.SubscriptionVersion = w.Subscription.Version
	}
	switch msg.Type {
	case eventsub.MessageTypeVerification:
		if w.Challenge == "" {
			return fmt.Errorf("%w: challenge missing", ErrMalformedBody)
		}
	case eventsub.MessageTypeNotification:
		if len(w.Event) == 0 || string(w.Event) == "null" {
			return fmt.Errorf("%w: event missing", ErrMalformedBody)
		}
	}
	if (msg.Type == eventsub.MessageTypeVerification || msg.Type == eventsub.MessageTypeNotification ||
		msg.Type == eventsub.MessageTypeRevocation) && w.Subscription.ID == "" {
		return fmt.Errorf("%w: subscription id missing", ErrMalformedBody)
	}
	return nil
}

// jsonOptions make the faster json v2 decoder read what encoding/json reads: names matched
// case-insensitively, duplicate names and invalid UTF-8 tolerated (Twitch's bodies are signed,
// so this is about reading them exactly as before, only faster).
var jsonOptions = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
