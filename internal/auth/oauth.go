// Package auth is the Twitch login (authorization code grant with state, refresh, validate,
// revoke) on golang.org/x/oauth2, and the cached app access token used for EventSub.
// See docs/TWITCH.md §1. Tokens, codes and secrets are never logged.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// defaultScopes are what twitchrelay asks for: the user's followed channels (the "following"
// feed), followers of channels the user moderates (channel.follow v2) and chat notifications
// as the user (the chat highlights feed: channel.chat.notification).
func defaultScopes() []string {
	return []string{"user:read:follows", "moderator:read:followers", "user:read:chat"}
}

const (
	// expiryMargin: a token is treated as expired this long before Twitch says it is.
	expiryMargin = time.Minute
	// requestTimeout bounds one call to id.twitch.tv when the caller's context has no deadline.
	requestTimeout = 10 * time.Second
	// maxBody bounds what is read of an id.twitch.tv answer.
	maxBody = 1 << 20
)

// Config configures a Client. ClientID, ClientSecret and RedirectURL are required.
type Config struct {
	ClientID     string
	ClientSecret string
	RedirectURL  string   // PUBLIC_URL + "/auth", registered with Twitch (exact match)
	OAuthBaseURL string   // required (TWITCH_OAUTH_URL); the simulator: BASE + "/id/oauth2"
	Scopes       []string // default: user:read:follows moderator:read:followers user:read:chat
	HTTPClient   *http.Client
	Logger       *slog.Logger
	Now          func() time.Time // default time.Now
}

// Client talks to id.twitch.tv. It is safe for concurrent use.
type Client struct {
	oauth   oauth2.Config
	baseURL string
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time
	app     *AppTokenSource
}

// New returns a Client; zero Config fields but OAuthBaseURL get their defaults.
func New(cfg Config) *Client {
	if cfg.OAuthBaseURL == "" {
		panic("auth: Config.OAuthBaseURL is required")
	}
	base := strings.TrimRight(cfg.OAuthBaseURL, "/")
	if cfg.Scopes == nil {
		cfg.Scopes = defaultScopes()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:   base + "/authorize",
				TokenURL:  base + "/token",
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		baseURL: base,
		http:    cfg.HTTPClient,
		log:     cfg.Logger,
		now:     cfg.Now,
	}
	c.app = newAppTokenSource(c)
	return c
}

// NewState returns a fresh OAuth state value: 32 random bytes, base64url without padding.
func NewState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS source is broken)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StateEqual compares two state values in constant time. An empty value never matches.
func StateEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// AuthCodeURL returns the Twitch authorize URL to send the browser to. forceVerify makes
// Twitch show the consent page again even if the user already authorized the client.
func (c *Client) AuthCodeURL(state string, forceVerify bool) string {
	var opts []oauth2.AuthCodeOption
	if forceVerify {
		opts = append(opts, oauth2.SetAuthURLParam("force_verify", "true"))
	}
	return c.oauth.AuthCodeURL(state, opts...)
}

// Exchange trades an authorization code for a user token. The client secret travels in the
// POST body. A bad, expired or reused code gives an error matching ErrInvalidGrant.
func (c *Client) Exchange(ctx context.Context, code string) (Token, error) {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	t, err := c.oauth.Exchange(ctx, code)
	if err != nil {
		err = tokenError("exchange", err)
		c.log.InfoContext(ctx, "twitch code exchange failed", "error", err)
		return Token{}, err
	}
	tok := fromOAuth2(t)
	c.log.DebugContext(ctx, "twitch code exchanged", "scopes", tok.Scopes, "expiry", tok.Expiry)
	return tok, nil
}

// Refresh uses t's refresh token to get a new access token. Twitch may rotate the refresh
// token: always store the returned Token. An invalid refresh token matches ErrInvalidGrant.
func (c *Client) Refresh(ctx context.Context, t Token) (Token, error) {
	if t.RefreshToken == "" {
		return Token{}, &Error{Op: "refresh", Message: "no refresh token", Kind: ErrInvalidGrant}
	}
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	// An expired oauth2.Token makes the token source refresh right away.
	src := c.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)})
	nt, err := src.Token()
	if err != nil {
		err = tokenError("refresh", err)
		c.log.InfoContext(ctx, "twitch token refresh failed", "error", err)
		return Token{}, err
	}
	tok := fromOAuth2(nt)
	if tok.RefreshToken == "" { // not rotated
		tok.RefreshToken = t.RefreshToken
	}
	if tok.Scopes == nil {
		tok.Scopes = t.Scopes
	}
	c.log.DebugContext(ctx, "twitch token refreshed", "expiry", tok.Expiry)
	return tok, nil
}

// Revoke revokes an access token (at logout). Revoking a token Twitch no longer knows
// gives an error matching ErrInvalidToken, which callers at logout may ignore.
func (c *Client) Revoke(ctx context.Context, accessToken string) error {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	form := url.Values{"client_id": {c.oauth.ClientID}, "token": {accessToken}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		return &Error{Op: "revoke", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := c.send(req)
	if err != nil {
		return &Error{Op: "revoke", Err: err}
	}
	if status != http.StatusOK {
		return apiError("revoke", status, body)
	}
	c.log.DebugContext(ctx, "twitch token revoked")
	return nil
}

// send performs req and returns the status and (bounded) body.
func (c *Client) send(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

// requestContext adds the HTTP client for golang.org/x/oauth2 and a deadline if ctx has none.
func (c *Client) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}
