package web

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Readiness limits. A probe is public: whoever calls it must not make us ask Twitch (with the
// app's secret) or Redis once per call, nor learn why a check fails.
const (
	readyTimeout  = 3 * time.Second // one round of checks
	readyCacheFor = 2 * time.Second // a check's result, pass or fail, is reused this long
)

// GET /healthz: the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// GET /readyz: every readiness check (session store, Twitch) passes; 503 naming those that
// fail, as "failing": the reason (an upstream error, the Redis address) goes to the log only.
// Each check runs at most once per readyCacheFor, whatever the number of callers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(s.opt.Ready))
	for n := range s.opt.Ready {
		names = append(names, n)
	}
	sort.Strings(names)
	status, checks := http.StatusOK, map[string]string{}
	for _, n := range names {
		if err := s.ready.check(r.Context(), n, s.opt.Ready[n], s.log.Warn); err != nil {
			status, checks[n] = http.StatusServiceUnavailable, "failing"
			continue
		}
		checks[n] = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

// readiness remembers each check's last result for readyCacheFor. One check runs at a time;
// callers meanwhile wait for its result. The zero value is ready to use.
type readiness struct {
	mu   sync.Mutex
	last map[string]readyResult
}

type readyResult struct {
	err error
	at  time.Time
}

// check returns the result of the named check, cached or fresh; a fresh failure is logged.
func (rd *readiness) check(ctx context.Context, name string, f func(context.Context) error, warn func(string, ...any)) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if res, ok := rd.last[name]; ok && time.Since(res.at) < readyCacheFor {
		return res.err
	}
	// Not the caller's context: a caller who hangs up must not become everyone's failure.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	err := f(cctx)
	if err != nil {
		warn("readiness check failed", "check", name, "err", err)
	}
	if rd.last == nil {
		rd.last = map[string]readyResult{}
	}
	rd.last[name] = readyResult{err: err, at: time.Now()}
	return err
}
