package twitchsim

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// loopbackOnly guards the /sim controls: they change the world without authentication, so
// only requests from a loopback address get through.
func (s *Sim) loopbackOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			writeJSON(w, http.StatusForbidden, controlError{"the simulator controls answer loopback clients only"})
			return
		}
		next(w, r)
	}
}

type controlError struct {
	Error string `json:"error"`
}

// State is what GET /sim/state returns.
type State struct {
	Users         []User                  `json:"users"`
	Follows       []Follow                `json:"follows"` // oldest first
	Subscriptions []eventsub.Subscription `json:"subscriptions"`
	// The connected EventSub WebSocket sessions, and the WebSocket subscriptions still
	// listed (a test process counts a user's sessions with them).
	WSSessions      []WSSession             `json:"ws_sessions"`
	WSSubscriptions []eventsub.Subscription `json:"ws_subscriptions"`
}

// State returns a snapshot of the world and the subscriptions (without secrets).
func (s *Sim) State() State {
	st := State{Users: s.Users(), Subscriptions: s.Subscriptions(), WSSessions: s.WSSessions(), WSSubscriptions: s.WSSubscriptions()}
	s.mu.Lock()
	st.Follows = slices.Clone(s.world.follows)
	s.mu.Unlock()
	return st
}

func (s *Sim) handleState(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.State())
}

// MarshalJSON encodes a delivery for the control endpoints, with Err as a string.
func (d Delivery) MarshalJSON() ([]byte, error) {
	v := struct {
		SubscriptionID string `json:"subscription_id"`
		MessageID      string `json:"message_id"`
		MessageType    string `json:"message_type"`
		Callback       string `json:"callback"`
		Status         int    `json:"status"`
		Attempts       int    `json:"attempts"`
		Error          string `json:"error,omitempty"`
	}{d.SubscriptionID, d.MessageID, d.MessageType, d.Callback, d.Status, d.Attempts, ""}
	if d.Err != nil {
		v.Error = d.Err.Error()
	}
	return json.Marshal(v)
}

// handleTrigger serves POST /sim/trigger with form fields type (follow, online, offline,
// update, user_update), login, and follower, title, category or description. It answers
// {"deliveries":[...]} once every delivery finished.
func (s *Sim) handleTrigger(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{"malformed form"})
		return
	}
	f := r.PostForm
	ctx, login := r.Context(), f.Get("login")
	var ds []Delivery
	var err error
	switch f.Get("type") {
	case "follow":
		ds, err = s.Follow(ctx, f.Get("follower"), login)
	case "online":
		ds, err = s.GoLive(ctx, login, f.Get("title"), f.Get("category"))
	case "offline":
		ds, err = s.EndStream(ctx, login)
	case "update":
		ds, err = s.UpdateChannel(ctx, login, f.Get("title"), f.Get("category"))
	case "user_update":
		ds, err = s.UpdateUser(ctx, login, f.Get("description"))
	default:
		err = errors.New("type must be follow, online, offline, update or user_update")
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrAlreadyLive) || errors.Is(err, ErrNotLive) || errors.Is(err, ErrAlreadyFollowing) {
			status = http.StatusConflict
		}
		writeJSON(w, status, controlError{err.Error()})
		return
	}
	if ds == nil {
		ds = []Delivery{}
	}
	writeJSON(w, http.StatusOK, struct {
		Deliveries []Delivery `json:"deliveries"`
	}{ds})
}

// handleRevokeControl serves POST /sim/revoke with form fields id and reason.
func (s *Sim) handleRevokeControl(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{"malformed form"})
		return
	}
	d, err := s.RevokeSubscription(r.Context(), r.PostForm.Get("id"), r.PostForm.Get("reason"))
	switch {
	case errors.Is(err, ErrUnknownSubscription):
		writeJSON(w, http.StatusNotFound, controlError{err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, controlError{err.Error()})
	default:
		writeJSON(w, http.StatusOK, struct {
			Deliveries []Delivery `json:"deliveries"`
		}{[]Delivery{d}})
	}
}
