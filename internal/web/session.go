package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// Session keys. Values are strings (JSON for structs) so any scs codec and store can hold them.
const (
	keySessionID   = "relay_sid" // the relay session id: 128 random bits, never the cookie token
	keyUser        = "user"      // sessionUser as JSON
	keyStreamer    = "streamer"  // sessionStreamer as JSON
	keyCSRF        = "csrf"      // the form token
	keyValidatedAt = "validated_at"
)

// sessionUser is who is logged in.
type sessionUser struct {
	ID              string `json:"id"`
	Login           string `json:"login"`
	DisplayName     string `json:"display_name"`
	ProfileImageURL string `json:"profile_image_url"`
}

// sessionStreamer is the chosen streamer.
type sessionStreamer struct {
	ID              string `json:"id"`
	Login           string `json:"login"`
	DisplayName     string `json:"display_name"`
	ProfileImageURL string `json:"profile_image_url"`
}

// randomHex returns n random bytes from crypto/rand as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return hex.EncodeToString(b)
}

// newSessionID is a relay session id: 128 bits from crypto/rand, 32 hex characters.
func newSessionID() string { return randomHex(16) }

func (s *Server) getJSON(ctx context.Context, key string, v any) bool {
	raw := s.sessions.GetString(ctx, key)
	return raw != "" && json.Unmarshal([]byte(raw), v) == nil
}

func (s *Server) putJSON(ctx context.Context, key string, v any) {
	b, _ := json.Marshal(v)
	s.sessions.Put(ctx, key, string(b))
}

func (s *Server) currentUser(ctx context.Context) *sessionUser {
	var u sessionUser
	if !s.getJSON(ctx, keyUser, &u) || u.ID == "" || s.sessions.GetString(ctx, keySessionID) == "" {
		return nil
	}
	return &u
}

func (s *Server) currentStreamer(ctx context.Context) *sessionStreamer {
	var st sessionStreamer
	if !s.getJSON(ctx, keyStreamer, &st) || st.ID == "" {
		return nil
	}
	return &st
}

// csrfToken returns the session's form token, creating it on first use.
func (s *Server) csrfToken(ctx context.Context) string {
	t := s.sessions.GetString(ctx, keyCSRF)
	if t == "" {
		t = randomHex(32)
		s.sessions.Put(ctx, keyCSRF, t)
	}
	return t
}

// checkCSRF compares the form's token with the session's in constant time.
func (s *Server) checkCSRF(r *http.Request) error {
	want := s.sessions.GetString(r.Context(), keyCSRF)
	got := r.PostFormValue("csrf_token")
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return errCSRF
	}
	return nil
}

// basePage is what every page's layout needs.
type basePage struct {
	Title   string
	User    *sessionUser
	CSRF    string
	Demo    bool
	Version string
}

func (s *Server) base(r *http.Request, title string) basePage {
	b := basePage{Title: title, Demo: s.opt.Demo, Version: s.opt.Version}
	if hasSession(r.Context()) {
		b.User = s.currentUser(r.Context())
		if b.User != nil {
			b.CSRF = s.csrfToken(r.Context())
		}
	}
	return b
}

const sessionLoadedKey ctxKey = iota + 100

// sessionLoaded marks requests whose cookie session scs has loaded (routes outside the
// session group, and requests whose store failed, have none).
func sessionLoaded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionLoadedKey, true)))
	})
}

func hasSession(ctx context.Context) bool { v, _ := ctx.Value(sessionLoadedKey).(bool); return v }

type errorPage struct {
	basePage
	Heading, Message, RetryURL, RetryLabel, RequestID string
}

// needsValidation: Twitch requires validating a session's token at start-up and hourly.
func (s *Server) needsValidation(ctx context.Context) bool {
	at := time.Unix(0, s.sessions.GetInt64(ctx, keyValidatedAt))
	return at.Before(s.started) || time.Since(at) > tokenValidateEvery
}
