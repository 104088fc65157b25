package web

import "net/http"

type landingPage struct {
	basePage
	Streamer *sessionStreamer
}

// GET /: the landing page with "Log in with Twitch"; logged in, who you are and where to go.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return errNotFound
	}
	p := landingPage{basePage: s.base(r, "Live Twitch events for your favourite streamer")}
	if p.User != nil {
		p.Streamer = s.currentStreamer(r.Context())
	}
	return s.render(w, r, "landing", p)
}
