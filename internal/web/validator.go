package web

import (
	"context"
	"sync"
	"time"
)

// liveSessions are the relay sessions with an open socket in this process: the ones whose
// tokens the hourly validation checks even when the user makes no request.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]int
}

func (l *liveSessions) add(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]int{}
	}
	l.m[sid]++
}

func (l *liveSessions) remove(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m[sid]--; l.m[sid] <= 0 {
		delete(l.m, sid)
	}
}

func (l *liveSessions) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.m))
	for sid := range l.m {
		out = append(out, sid)
	}
	return out
}

// RunValidator validates the token of every live session hourly, as Twitch requires; a
// session whose token Twitch rejects is ended (its sockets are told, its subscriptions go).
func (s *Server) RunValidator(ctx context.Context) {
	t := time.NewTicker(tokenValidateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.ValidateLive(ctx)
		}
	}
}

// ValidateLive runs one round of validation over the live sessions.
func (s *Server) ValidateLive(ctx context.Context) {
	for _, sid := range s.live.list() {
		src, err := s.tokens.source(ctx, sid)
		if err != nil {
			s.endSession(ctx, sid, "token missing")
			continue
		}
		_ = s.validate(ctx, sid, src) // ends the session itself when the token is invalid
	}
}
