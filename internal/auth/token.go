package auth

import (
	"context"
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
// and after Invalidate (a 401 from Helix). Every refreshed token is passed to OnRefresh so
// the caller can store it (Twitch rotates refresh tokens). Safe for concurrent use; at most
// one refresh runs at a time. It satisfies helix.TokenSource.
type UserTokenSource struct {
	c         *Client
	onRefresh func(Token)
	sem       chan struct{} // held while reading or refreshing the token

	mu    sync.Mutex
	tok   Token
	stale bool // the current access token was rejected
}

// UserTokenSource returns a source for t. onRefresh, if not nil, is called with every new
// token before Token returns it; calls are serialised and in order.
func (c *Client) UserTokenSource(t Token, onRefresh func(Token)) *UserTokenSource {
	return &UserTokenSource{c: c, onRefresh: onRefresh, sem: make(chan struct{}, 1), tok: t}
}

// Current returns the token as it is now, without refreshing.
func (s *UserTokenSource) Current() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

// Token returns a valid access token, refreshing first if needed. When the refresh token
// is rejected the error matches ErrInvalidGrant: the user must log in again.
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
	old := s.Current()
	nt, err := s.c.Refresh(ctx, old)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.tok, s.stale = nt, false
	s.mu.Unlock()
	if s.onRefresh != nil {
		s.onRefresh(nt)
	}
	return nt.AccessToken, nil
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

func (s *UserTokenSource) fresh() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale || !s.tok.Valid(s.c.now()) {
		return "", false
	}
	return s.tok.AccessToken, true
}
