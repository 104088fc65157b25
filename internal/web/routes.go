package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Handler returns the whole HTTP surface. Every route of twitchrelay is here.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.realIP, s.recoverer)

	// Twitch's callbacks: the hot path. No page middleware; the relay logs one line per
	// webhook (message id, type, outcome) and counts it in metrics.
	r.Route("/callback/{session_id}", func(r chi.Router) {
		r.Post("/", s.handleCallback)
		r.MethodNotAllowed(methodNotAllowed("POST"))
	})

	r.Group(func(r chi.Router) {
		r.Use(s.logRequests, securityHeaders(s.opt.PublicURL))

		// Probes, metrics and assets need no session.
		r.Get("/healthz", s.handleHealthz)
		r.Get("/readyz", s.handleReadyz)
		if s.opt.Metrics != nil {
			r.Method(http.MethodGet, "/metrics", s.opt.Metrics)
		}
		r.Get("/static/*", s.assets.serve)

		// Pages and the socket: cookie sessions, CSRF on unsafe methods.
		r.Group(func(r chi.Router) {
			r.Use(s.oneSessionCookie, s.sessions.LoadAndSave, sessionLoaded, crossOriginProtection(s.opt.PublicURL))
			r.Get("/", s.handle(s.handleLanding))
			r.Get("/login", s.handle(s.handleLogin))
			r.Get("/auth", s.handle(s.handleAuth))
			r.Get("/enter_streamer", s.handle(s.handleStreamerForm))
			r.Post("/enter_streamer", s.handle(s.handleStreamerSubmit))
			r.Get("/stream", s.handle(s.handleStream))
			r.Post("/logout", s.handle(s.handleLogout))
			r.Get("/ws", s.handleWS)
		})
	})
	pageMiddleware := chi.Chain(s.logRequests, securityHeaders(s.opt.PublicURL))
	r.NotFound(pageMiddleware.HandlerFunc(s.handle(func(w http.ResponseWriter, r *http.Request) error { return errNotFound })).ServeHTTP)
	r.MethodNotAllowed(pageMiddleware.HandlerFunc(s.handle(func(w http.ResponseWriter, r *http.Request) error { return errMethodNotAllowed })).ServeHTTP)
	return r
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		http.Error(w, "method not allowed: Twitch EventSub callbacks are POSTs", http.StatusMethodNotAllowed)
	}
}
