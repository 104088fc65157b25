package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The pending OAuth state lives in a short-lived cookie signed with Options.StateKey, not in a
// server-side session: a visitor who has not logged in costs the server nothing that
// outlives the request.
const (
	stateCookieName = "twitchrelay_oauth"
	stateCookieTTL  = 10 * time.Minute // the time a person has to press "Authorize" at Twitch
)

// setStateCookie hands the browser state, signed, for stateCookieTTL.
func (s *Server) setStateCookie(w http.ResponseWriter, state string) {
	exp := strconv.FormatInt(time.Now().Add(stateCookieTTL).Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookieName, Value: state + "." + exp + "." + s.stateMAC(state, exp), Path: "/auth",
		MaxAge: int(stateCookieTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(),
	})
}

// popStateCookie returns the state of a valid, unexpired cookie ("" otherwise) and clears
// the cookie: a state is used once, whatever happens next.
func (s *Server) popStateCookie(w http.ResponseWriter, r *http.Request) string {
	http.SetCookie(w, &http.Cookie{Name: stateCookieName, Value: "", Path: "/auth", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	c, err := r.Cookie(stateCookieName)
	if err != nil {
		return ""
	}
	state, rest, ok1 := strings.Cut(c.Value, ".")
	exp, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !hmac.Equal([]byte(mac), []byte(s.stateMAC(state, exp))) {
		return ""
	}
	if at, err := strconv.ParseInt(exp, 10, 64); err != nil || time.Now().Unix() > at {
		return ""
	}
	return state
}

func (s *Server) stateMAC(state, exp string) string {
	m := hmac.New(sha256.New, s.opt.StateKey)
	m.Write([]byte(state + "." + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) secure() bool { return s.opt.PublicURL != nil && s.opt.PublicURL.Scheme == "https" }
