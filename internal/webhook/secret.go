// Package webhook is the verified intake of EventSub webhook callbacks (docs/TWITCH.md §4):
// per-session secrets derived from the server secret, a Verifier that checks size, headers,
// signature, timestamp window and duplicate message ids on the raw bytes before anything is
// parsed (with a Deduper: internal/store has the memory and Redis ones), and Normalize, which turns a Twitch event
// into the plain-text event the browser shows.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// secretLabel separates webhook secrets from any other use of the server secret.
const secretLabel = "twitchrelay webhook v1\x00"

// Secret returns the webhook transport secret of a relay session:
// hex(HMAC-SHA256(serverSecret, "twitchrelay webhook v1\x00" + sessionID)), 64 ASCII
// characters (Twitch accepts 10..100). Any instance holding the server secret can verify any
// session's callbacks without storing per-session secrets. Never log the result.
func Secret(serverSecret []byte, sessionID string) string {
	mac := hmac.New(sha256.New, serverSecret)
	mac.Write([]byte(secretLabel))
	mac.Write([]byte(sessionID))
	return hex.EncodeToString(mac.Sum(nil))
}
