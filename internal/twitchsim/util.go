package twitchsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// randomToken returns n random lowercase alphanumerics, like Twitch tokens and codes.
func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newUUID returns a random version 4 UUID (subscription and message ids).
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "twitchsim: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// idError writes an id.twitch.tv error: {"status":N,"message":".."}.
func idError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}{status, message})
}

// helixError writes a Helix error: {"error":"Unauthorized","status":401,"message":".."}.
func helixError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, helixErrorBody{http.StatusText(status), status, message})
}

type helixErrorBody struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Cursors are opaque to clients: base64 of the offset of the next page.
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	return n, err == nil && n >= 0
}

// pageParams reads first (1..max, default def) and the after cursor; msg says what is wrong.
func pageParams(r *http.Request, def, max int) (first, offset int, msg string) {
	first = def
	if v := r.URL.Query().Get("first"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return 0, 0, fmt.Sprintf("The parameter \"first\" was malformed: the value must be between 1 and %d", max)
		}
		first = n
	}
	offset, ok := decodeCursor(r.URL.Query().Get("after"))
	if !ok {
		return 0, 0, "The parameter \"after\" was malformed"
	}
	return first, offset, ""
}

// page cuts items[offset:offset+first] and returns the cursor of the next page ("" if none).
func page[T any](items []T, first, offset int) ([]T, string) {
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+first, len(items))
	cursor := ""
	if end < len(items) {
		cursor = encodeCursor(end)
	}
	return items[offset:end], cursor
}

// mustJSON encodes values the simulator built itself (they always encode).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("twitchsim: encoding " + fmt.Sprintf("%T", v) + ": " + err.Error())
	}
	return b
}
