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

// tokenValidateSlack is how much shorter than the hour a validation claim lasts, so that the
// next round of whichever instance holds the session's socket then can take it.
const tokenValidateSlack = time.Minute

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

// ValidateLive runs one round of validation over the live sessions (with several
// instances, those whose validation this instance claims for the hour: Options.ValidateClaim).
func (s *Server) ValidateLive(ctx context.Context) {
	for _, sid := range s.live.list() {
		if s.opt.ValidateClaim != nil {
			ok, err := s.opt.ValidateClaim(ctx, sid, tokenValidateEvery-tokenValidateSlack)
			if err != nil {
				s.log.Warn("token validation claim", "session", shortID(sid), "err", err)
			}
			if !ok { // another instance validates it this hour (or Redis is down: the next round)
				continue
			}
		}
		src, err := s.tokens.source(ctx, sid)
		if err != nil {
			s.endSession(ctx, sid, "token missing")
			continue
		}
		_ = s.validate(ctx, sid, src) // ends the session itself when the token is invalid
	}
}
