package web

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// GET /healthz: the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// GET /readyz: every readiness check (session store, Twitch) passes; 503 naming those that fail.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.opt.Ready))
	for n := range s.opt.Ready {
		names = append(names, n)
	}
	sort.Strings(names)
	status, checks := http.StatusOK, map[string]string{}
	for _, n := range names {
		if err := s.opt.Ready[n](ctx); err != nil {
			status, checks[n] = http.StatusServiceUnavailable, err.Error()
			continue
		}
		checks[n] = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": checks})
}
