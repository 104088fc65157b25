package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// TokenStore keeps each relay session's Twitch token server-side (internal/store).
type TokenStore interface {
	Get(ctx context.Context, sid string) (auth.Token, error)
	Put(ctx context.Context, sid string, t auth.Token) error
	Delete(ctx context.Context, sid string) error
}

// userTokens hands out one token source per relay session, shared by requests and background
// work, so a refresh (which rotates the refresh token) happens once and is stored at once.
// A source nobody asked for within idle, of a session with no open socket, is dropped (the
// stored token stays): a login never logged out costs nothing here after its session went
// idle. The sweep runs inside source, at most every idle/4, so it needs no goroutine.
type userTokens struct {
	auth  Authenticator
	store TokenStore
	idle  time.Duration         // set by New (Limits.TokenIdle)
	live  func(sid string) bool // whether sid has an open socket (set by New)
	now   func() time.Time      // time.Now

	mu        sync.Mutex
	srcs      map[string]*cachedSource
	nextSweep time.Time
}

type cachedSource struct {
	src  *auth.UserTokenSource
	used time.Time // last handed out
}

func newUserTokens(a Authenticator, store TokenStore) *userTokens {
	return &userTokens{auth: a, store: store, srcs: map[string]*cachedSource{}, now: time.Now,
		live: func(string) bool { return false }}
}

// cached returns sid's source and marks it used, sweeping idle ones on the way.
func (u *userTokens) cached(sid string) (*auth.UserTokenSource, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	if u.idle > 0 && now.After(u.nextSweep) {
		u.nextSweep = now.Add(u.idle / 4)
		for id, c := range u.srcs {
			if now.Sub(c.used) > u.idle && id != sid && !u.live(id) {
				delete(u.srcs, id)
			}
		}
	}
	c, ok := u.srcs[sid]
	if !ok {
		return nil, false
	}
	c.used = now
	return c.src, true
}

// cachedCount is how many token sources are cached (a metric, and what tests check).
func (u *userTokens) cachedCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.srcs)
}

// source returns the session's token source; errSessionEnded when no token is stored.
func (u *userTokens) source(ctx context.Context, sid string) (helix.TokenSource, error) {
	if src, ok := u.cached(sid); ok {
		return src, nil
	}
	t, err := u.store.Get(ctx, sid)
	if errors.Is(err, store.ErrNoToken) {
		return nil, errSessionEnded
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSessionStoreDown, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c, ok := u.srcs[sid]; ok { // another request got here first
		return c.src, nil
	}
	// Twitch invalidates the old refresh token when it rotates it: a refreshed token that is
	// not stored logs the user out at the next restart. The source retries the write within
	// the caller's context, logs a failure at Error and keeps the token for a later call; the
	// request answers errLoginNotSaved (the error reaches the handler through Helix's %w).
	// The save function captures only the store and sid, never the request's context: the
	// context it runs in is each later caller's.
	src := u.auth.UserTokenSource(t, nil).SaveWith(func(ctx context.Context, nt auth.Token) error {
		if err := u.store.Put(ctx, sid, nt); err != nil {
			return errLoginNotSaved.with(fmt.Errorf("store refreshed token (session %s): %w", shortID(sid), err))
		}
		return nil
	})
	u.srcs[sid] = &cachedSource{src: src, used: u.now()}
	return src, nil
}

// errLoginNotSaved: Twitch renewed the user's token and the token store did not take it.
var errLoginNotSaved = &appError{Status: http.StatusServiceUnavailable, Heading: "We can't save your login right now",
	Message:    "Twitch renewed your login, but twitchrelay could not save it. You are still logged in here: please try again in a minute.",
	RetryLabel: "Try again"}

// current returns the stored token (for validation and revocation).
func (u *userTokens) current(ctx context.Context, sid string) (auth.Token, error) {
	return u.store.Get(ctx, sid)
}

// put stores a fresh token (login) and drops any cached source.
func (u *userTokens) put(ctx context.Context, sid string, t auth.Token) error {
	u.forget(sid)
	return u.store.Put(ctx, sid, t)
}

// forget drops the cached source; the stored token stays.
func (u *userTokens) forget(sid string) {
	u.mu.Lock()
	delete(u.srcs, sid)
	u.mu.Unlock()
}

// remove drops both.
func (u *userTokens) remove(ctx context.Context, sid string) error {
	u.forget(sid)
	return u.store.Delete(ctx, sid)
}

// ReleaseSession forgets what this process cached for a relay session whose lease ended (its
// token source); the stored token stays, so the user is still logged in when they return.
func (s *Server) ReleaseSession(sid string) { s.tokens.forget(sid) }

// TokenSources is how many sessions' token sources this process caches.
func (s *Server) TokenSources() int { return s.tokens.cachedCount() }
