package auth

import (
	"context"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// appTokenRenewBefore: an app token is renewed this long before it expires (or after 90 %
// of its lifetime, for short-lived tokens such as the simulator's in tests).
const appTokenRenewBefore = 5 * time.Minute

// AppTokenSource hands out the app access token (client credentials grant) used for
// EventSub webhook subscriptions. It fetches lazily, caches, renews before expiry and after
// Invalidate (a 401), and runs at most one fetch at a time. Safe for concurrent use.
// It satisfies helix.TokenSource.
type AppTokenSource struct {
	c   *Client
	cc  clientcredentials.Config
	sem chan struct{} // held while fetching

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

func newAppTokenSource(c *Client) *AppTokenSource {
	return &AppTokenSource{
		c: c,
		cc: clientcredentials.Config{
			ClientID:     c.oauth.ClientID,
			ClientSecret: c.oauth.ClientSecret,
			TokenURL:     c.oauth.Endpoint.TokenURL,
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		sem: make(chan struct{}, 1),
	}
}

// AppTokenSource returns the client's app token source (one per Client, shared cache).
func (c *Client) AppTokenSource() *AppTokenSource { return c.app }

// Token returns the cached app token, fetching a new one if there is none or it is about
// to expire. A wrong client secret gives an error matching ErrInvalidClient.
func (s *AppTokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.cached(); ok {
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
	if tok, ok := s.cached(); ok { // fetched by another caller while we waited
		return tok, nil
	}

	ctx, cancel := s.c.requestContext(ctx)
	defer cancel()
	start := s.c.now()
	t, err := s.cc.Token(ctx)
	if err != nil {
		err = tokenError("app token", err)
		s.c.log.WarnContext(ctx, "twitch app token request failed", "error", err)
		return "", err
	}
	renewAt := time.Time{} // zero: Twitch gave no expiry; keep until invalidated
	if !t.Expiry.IsZero() {
		before := min(appTokenRenewBefore, t.Expiry.Sub(start)/10)
		renewAt = t.Expiry.Add(-before)
	}
	s.mu.Lock()
	s.token, s.renewAt = t.AccessToken, renewAt
	s.mu.Unlock()
	s.c.log.InfoContext(ctx, "twitch app token obtained", "expiry", t.Expiry)
	return t.AccessToken, nil
}

// Invalidate drops token from the cache if it is still the cached one, so the next Token
// call fetches a new app token. Call it when Twitch answers 401.
func (s *AppTokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" && token == s.token {
		s.token = ""
		s.c.log.Info("twitch app token invalidated")
	}
}

func (s *AppTokenSource) cached() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || (!s.renewAt.IsZero() && !s.c.now().Before(s.renewAt)) {
		return "", false
	}
	return s.token, true
}
