package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Token is a user's Twitch token as twitchrelay keeps it server-side in the session.
// It is JSON-serialisable and must never reach the browser or a log.
type Token struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
}

// Valid reports whether t has an access token that does not expire within about a minute
// of now. A zero Expiry means Twitch did not say, and counts as valid.
func (t Token) Valid(now time.Time) bool {
	if t.AccessToken == "" {
		return false
	}
	return t.Expiry.IsZero() || now.Add(expiryMargin).Before(t.Expiry)
}

// HasScope reports whether the token was granted scope.
func (t Token) HasScope(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// fromOAuth2 converts an oauth2.Token. Twitch sends "scope" as a JSON array, which
// oauth2 exposes as []interface{}; a space-separated string is accepted too.
func fromOAuth2(t *oauth2.Token) Token {
	return Token{
		AccessToken:  t.AccessToken,
		RefreshToken: t.RefreshToken,
		Expiry:       t.Expiry,
		Scopes:       scopesOf(t.Extra("scope")),
	}
}

func scopesOf(v any) []string {
	switch s := v.(type) {
	case []any:
		out := make([]string, 0, len(s))
		for _, e := range s {
			if str, ok := e.(string); ok && str != "" {
				out = append(out, str)
			}
		}
		return out
	case []string:
		return append([]string(nil), s...)
	case string:
		return strings.Fields(s)
	}
	return nil
}

// UserTokenSource hands out a user's access token, refreshing it shortly before it expires
// and after Invalidate (a 401 from Helix). Twitch rotates the refresh token on every refresh
// and invalidates the old one, so every refreshed token must be stored: SaveWith sets the
// store's write. Safe for concurrent use; at most one refresh runs at a time. It satisfies
// helix.TokenSource.
type UserTokenSource struct {
	c         *Client
	onRefresh func(Token)
	sem       chan struct{} // held while reading, refreshing or saving the token

	mu      sync.Mutex
	tok     Token
	stale   bool                               // the current access token was rejected
	save    func(context.Context, Token) error // stores a refreshed token, or nil
	unsaved bool                               // tok was refreshed and save has not taken it yet
}

// Saving a refreshed token: a few attempts with a short backoff, within the caller's context.
const (
	saveAttempts = 3
	saveBackoff  = 50 * time.Millisecond // doubled after each failed attempt
)

// UserTokenSource returns a source for t. onRefresh, if not nil, is called with every new
// token before Token returns it; calls are serialised and in order.
func (c *Client) UserTokenSource(t Token, onRefresh func(Token)) *UserTokenSource {
	return &UserTokenSource{c: c, onRefresh: onRefresh, sem: make(chan struct{}, 1), tok: t}
}

// SaveWith makes the source store every refreshed token with save before handing it out, and
// returns s. A save that still fails after a few attempts within the caller's context makes
// Token fail with ErrNotSaved (wrapping save's error) and is logged at Error; the new token is
// kept in memory, and the next Token call tries to store it again before returning it. Call
// SaveWith before the source is shared.
func (s *UserTokenSource) SaveWith(save func(ctx context.Context, t Token) error) *UserTokenSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.save = save
	return s
}

// Current returns the token as it is now, without refreshing.
func (s *UserTokenSource) Current() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

// Token returns a valid access token, refreshing first if needed. When the refresh token
// is rejected the error matches ErrInvalidGrant: the user must log in again. When the
// refreshed token could not be stored the error matches ErrNotSaved.
func (s *UserTokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.fresh(); ok {
		return tok, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.sem }()
	if tok, ok := s.fresh(); ok { // another caller refreshed while we waited
		return tok, nil
	}
	s.mu.Lock()
	cur, expired := s.tok, s.stale || !s.tok.Valid(s.c.now())
	s.mu.Unlock()
	if expired {
		nt, err := s.c.Refresh(ctx, cur)
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		s.tok, s.stale, s.unsaved = nt, false, s.save != nil
		s.mu.Unlock()
		if s.onRefresh != nil {
			s.onRefresh(nt)
		}
		cur = nt
	}
	if err := s.store(ctx, cur); err != nil {
		return "", err
	}
	return cur.AccessToken, nil
}

// store saves t if it is a refreshed token not yet saved. The caller holds sem.
func (s *UserTokenSource) store(ctx context.Context, t Token) error {
	s.mu.Lock()
	save, pending := s.save, s.unsaved
	s.mu.Unlock()
	if !pending {
		return nil
	}
	var err error
	attempts := 0
	for wait := saveBackoff; attempts < saveAttempts; wait *= 2 {
		attempts++
		if err = save(ctx, t); err == nil {
			s.mu.Lock()
			s.unsaved = false
			s.mu.Unlock()
			return nil
		}
		if attempts == saveAttempts || !sleep(ctx, wait) {
			break
		}
	}
	s.c.log.ErrorContext(ctx, "twitch user token refreshed but not saved; kept in memory until a later call saves it",
		"attempts", attempts, "error", err)
	return fmt.Errorf("%w: %w", ErrNotSaved, err)
}

// sleep waits d or until ctx ends, reporting whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false // the next attempt would not fit in the caller's deadline
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Invalidate marks accessToken as rejected, so the next Token call refreshes. A token that
// is no longer the current one is ignored (it was already replaced).
func (s *UserTokenSource) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if accessToken != "" && accessToken == s.tok.AccessToken {
		s.stale = true
	}
}

// fresh returns the access token when it can be handed out as is: not rejected, not about to
// expire, and stored if it was refreshed.
func (s *UserTokenSource) fresh() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale || s.unsaved || !s.tok.Valid(s.c.now()) {
		return "", false
	}
	return s.tok.AccessToken, true
}
