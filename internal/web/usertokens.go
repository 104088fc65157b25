package web

import (
	"context"
	"errors"
	"fmt"
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
	src = u.auth.UserTokenSource(t, func(nt auth.Token) {
		// Background refreshes have no request context; the store write is short.
		_ = u.store.Put(context.WithoutCancel(ctx), sid, nt)
	})
	u.srcs[sid] = src
	return src, nil
}

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
