package twitchsim

import (
	"net/http"
	"slices"
	"strings"
)

// caller is the authenticated side of a Helix request (a copy, safe without mu).
type caller struct {
	clientID string
	userID   string // "" for an app token
	scopes   []string
}

func (c caller) app() bool { return c.userID == "" }

// handleHelix serves /helix/...: authentication, rate limit, injected faults, then the
// endpoint. Every answer after authentication carries the Ratelimit-* headers; a 401 carries
// those of the app bucket of the Client-Id it named, without charging it.
func (s *Sim) handleHelix(w http.ResponseWriter, r *http.Request) {
	c, msg := s.helixAuth(r)
	if msg != "" {
		s.mu.Lock()
		s.writeRateHeaders(w, s.peekPoints(bucketKey{clientID: r.Header.Get("Client-Id")}))
		s.mu.Unlock()
		helixError(w, http.StatusUnauthorized, msg)
		return
	}
	s.mu.Lock()
	ok := s.takePoint(w, bucketKey{c.clientID, c.userID})
	s.mu.Unlock()
	if !ok {
		helixError(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	if s.applyFault(w, r, true) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	switch r.Method + " " + strings.TrimPrefix(r.URL.Path, "/helix") {
	case "GET /users":
		s.helixUsers(w, r, c)
	case "GET /streams":
		s.helixStreams(w, r, c)
	case "GET /channels":
		s.helixChannels(w, r, c)
	case "GET /channels/followed":
		s.helixFollowed(w, r, c)
	case "POST /eventsub/subscriptions":
		s.helixCreateSubscription(w, r, c)
	case "GET /eventsub/subscriptions":
		s.helixListSubscriptions(w, r, c)
	case "DELETE /eventsub/subscriptions":
		s.helixDeleteSubscription(w, r, c)
	default:
		helixError(w, http.StatusNotFound, "the simulator does not implement "+r.Method+" "+r.URL.Path)
	}
}

// helixAuth checks Authorization: Bearer and Client-Id as Twitch does.
func (s *Sim) helixAuth(r *http.Request) (caller, string) {
	access, ok := authToken(r.Header.Get("Authorization"), "bearer")
	if !ok {
		return caller{}, "OAuth token is missing"
	}
	clientID := r.Header.Get("Client-Id")
	if clientID == "" {
		return caller{}, "Client-Id header required"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lookupToken(access)
	if !ok {
		return caller{}, "Invalid OAuth token"
	}
	if t.clientID != clientID {
		return caller{}, "Client ID and OAuth token do not match"
	}
	return caller{clientID: t.clientID, userID: t.userID, scopes: slices.Clone(t.scopes)}, ""
}

// helixList is the usual Helix list envelope.
type helixList[T any] struct {
	Total      *int       `json:"total,omitempty"`
	Data       []T        `json:"data"`
	Pagination pagination `json:"pagination"`
}

type pagination struct {
	Cursor string `json:"cursor,omitempty"`
}
