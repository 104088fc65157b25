package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

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
type userTokens struct {
	auth  Authenticator
	store TokenStore
	mu    sync.Mutex
	srcs  map[string]*auth.UserTokenSource
}

func newUserTokens(a Authenticator, store TokenStore) *userTokens {
	return &userTokens{auth: a, store: store, srcs: map[string]*auth.UserTokenSource{}}
}

// source returns the session's token source; errSessionEnded when no token is stored.
func (u *userTokens) source(ctx context.Context, sid string) (helix.TokenSource, error) {
	u.mu.Lock()
	src, ok := u.srcs[sid]
	u.mu.Unlock()
	if ok {
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
	if src, ok := u.srcs[sid]; ok { // another request got here first
		return src, nil
	}
	// Twitch invalidates the old refresh token when it rotates it: a refreshed token that is
	// not stored logs the user out at the next restart. The source retries the write within
	// the caller's context, logs a failure at Error and keeps the token for a later call; the
	// request answers errLoginNotSaved (the error reaches the handler through Helix's %w).
	src = u.auth.UserTokenSource(t, nil).SaveWith(func(ctx context.Context, nt auth.Token) error {
		if err := u.store.Put(ctx, sid, nt); err != nil {
			return errLoginNotSaved.with(fmt.Errorf("store refreshed token (session %s): %w", shortID(sid), err))
		}
		return nil
	})
	u.srcs[sid] = src
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
