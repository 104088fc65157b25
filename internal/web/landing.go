package web

import "net/http"

type landingPage struct {
	basePage
	Streamer *sessionStreamer
	Ended    bool // ?ended=1: the visitor's session ended (restart, expiry, logout elsewhere)
}

// GET /: the landing page with "Log in with Twitch"; logged in, who you are and where to go.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return errNotFound
	}
	p := landingPage{basePage: s.base(r, "Live Twitch events for your favourite streamer")}
	if p.User != nil {
		p.Streamer = s.currentStreamer(r.Context())
	} else {
		p.Ended = r.URL.Query().Get("ended") == "1"
	}
	return s.render(w, r, "landing", p)
}
