package app

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// newSessionManager is the login cookie: a month's lifetime, a week idle. On https its name
// has the __Host- prefix, so that no sibling subdomain can set (toss) one the browser sends
// us: the browser accepts a __Host- cookie only from this host, Secure, with Path=/ and no
// Domain. (web refuses a request that carries the cookie twice.)
func newSessionManager(secure bool) *scs.SessionManager {
	s := scs.New() // NB: starts scs's default memstore cleanup goroutine, which nothing can stop (see app_test.go)
	s.Lifetime, s.IdleTimeout = sessionLifetime, sessionIdleTimeout
	s.Cookie.Name = sessionCookieName
	if secure {
		s.Cookie.Name = "__Host-" + sessionCookieName
	}
	s.Cookie.Path = "/"
	s.Cookie.HttpOnly = true
	s.Cookie.SameSite = http.SameSiteLaxMode
	s.Cookie.Secure = secure
	return s
}

// memSessions is the in-memory scs session store. Unlike scs's memstore it starts no
// goroutine of its own: Serve runs its sweep, and stops and waits for it.
type memSessions struct {
	mu sync.Mutex
	m  map[string]memSession
}

type memSession struct {
	data   []byte
	expiry time.Time
}

func newMemSessions() *memSessions { return &memSessions{m: map[string]memSession{}} }

// Find implements scs.Store.
func (s *memSessions) Find(token string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[token]
	if !ok || !time.Now().Before(e.expiry) {
		return nil, false, nil
	}
	return e.data, true, nil
}

// Commit implements scs.Store.
func (s *memSessions) Commit(token string, b []byte, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[token] = memSession{data: b, expiry: expiry}
	return nil
}

// Delete implements scs.Store.
func (s *memSessions) Delete(token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, token)
	return nil
}

// sweep forgets the sessions expired at now and returns how many.
func (s *memSessions) sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for token, e := range s.m {
		if !now.Before(e.expiry) {
			delete(s.m, token)
			n++
		}
	}
	return n
}

// run sweeps every interval until ctx is done.
func (s *memSessions) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.sweep(now)
		}
	}
}

var _ scs.Store = (*memSessions)(nil)

// len is how many sessions are stored.
func (s *memSessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// StoredSessions is how many cookie sessions the in-memory store holds (-1 with Redis).
func (a *App) StoredSessions() int {
	if a.sessions == nil {
		return -1
	}
	return a.sessions.len()
}
