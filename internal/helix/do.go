package helix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// call is one Helix request.
type call struct {
	method string
	path   string // below the base URL, e.g. "/users"
	query  url.Values
	body   []byte // JSON body, or nil
	ts     TokenSource
}

func (r call) endpoint() string { return r.method + " " + r.path }

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends r and decodes a 2xx JSON answer into out (skipped when out is nil or on 204).
// It waits while the token's rate-limit bucket is empty, waits out 429s until
// Ratelimit-Reset, retries 5xx and transport errors with backoff up to MaxRetries, and on
// 401 invalidates the token and retries once with a fresh one.
func (c *Client) do(ctx context.Context, r call, out any) error {
	ep := r.endpoint()
	if r.ts == nil {
		return fmt.Errorf("%s: no token source: %w", ep, ErrUnauthorized)
	}
	var retried401 bool
	var failures, limited int
	for {
		tok, err := r.ts.Token(ctx)
		if err != nil {
			return fmt.Errorf("%s: get token: %w", ep, err)
		}
		if err := c.waitBucket(ctx, ep, tok); err != nil {
			return err
		}
		a, err := c.attempt(ctx, r, tok)
		if err != nil {
			var be buildError
			if errors.As(err, &be) || ctx.Err() != nil {
				return fmt.Errorf("%s: %w", ep, err)
			}
			if failures >= c.maxRetries {
				return fmt.Errorf("%s: %w: %w", ep, ErrUnavailable, err)
			}
			failures++
			if err := c.backoff(ctx, ep, 0, failures); err != nil {
				return err
			}
			continue
		}
		switch {
		case a.status >= 200 && a.status < 300:
			c.noteBucket(tok, a.header)
			if out == nil || a.status == http.StatusNoContent || len(a.body) == 0 {
				return nil
			}
			if err := json.Unmarshal(a.body, out); err != nil {
				return fmt.Errorf("%s: decode answer: %w", ep, err)
			}
			return nil
		case a.status == http.StatusUnauthorized && !retried401:
			retried401 = true
			r.ts.Invalidate(tok)
			c.log.InfoContext(ctx, "helix token rejected, retrying with a fresh token", "endpoint", ep)
			continue
		case a.status == http.StatusTooManyRequests && limited < maxRateLimitRetries && bucketEmpty(a.header):
			limited++
			wait := c.resetWait(a.header)
			if err := c.rateLimitWait(ctx, ep, wait); err != nil {
				return fmt.Errorf("%w (%w)", err, newAPIError(ep, a.status, a.body))
			}
			continue
		case a.status >= 500 && failures < c.maxRetries:
			c.noteBucket(tok, a.header)
			failures++
			if err := c.backoff(ctx, ep, a.status, failures); err != nil {
				return err
			}
			continue
		}
		c.noteBucket(tok, a.header)
		return newAPIError(ep, a.status, a.body)
	}
}

// buildError is a request that could not even be built; retrying cannot help.
type buildError struct{ err error }

func (e buildError) Error() string { return "build request: " + e.err.Error() }
func (e buildError) Unwrap() error { return e.err }

// attempt performs one HTTP exchange, bounded by requestTimeout if ctx has no deadline.
func (c *Client) attempt(ctx context.Context, r call, tok string) (answer, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return answer{}, buildError{err}
	}
	req.Header.Set("Client-Id", c.clientID)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.record(ctx, r.endpoint(), 0, time.Since(start))
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	c.record(ctx, r.endpoint(), resp.StatusCode, time.Since(start))
	if err != nil {
		return answer{}, fmt.Errorf("read answer: %w", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (c *Client) record(ctx context.Context, ep string, status int, d time.Duration) {
	c.log.DebugContext(ctx, "helix request", "endpoint", ep, "status", status, "duration", d)
	if c.observe != nil {
		c.observe(ep, status, d)
	}
}

// backoff waits before retry n (1-based): exponential from backoffBase, capped, with jitter.
func (c *Client) backoff(ctx context.Context, ep string, status, n int) error {
	d := backoffBase << (n - 1)
	if d > backoffMax || d <= 0 {
		d = backoffMax
	}
	d = d/2 + rand.N(d/2+1)
	c.log.WarnContext(ctx, "helix unavailable, retrying", "endpoint", ep, "status", status, "retry", n, "wait", d)
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("%s: waiting to retry: %w", ep, err)
	}
	return nil
}

// bucketEmpty tells a rate-limit 429 from other 429s (e.g. too many identical EventSub
// subscriptions), which Twitch answers while points remain: waiting would not help.
func bucketEmpty(h http.Header) bool {
	rem, err := strconv.Atoi(h.Get("Ratelimit-Remaining"))
	return err != nil || rem <= 0
}

// resetWait is how long to wait for the bucket of a 429 answer to refill.
func (c *Client) resetWait(h http.Header) time.Duration {
	wait := time.Second // no usable Ratelimit-Reset
	if reset, ok := parseReset(h); ok {
		wait = reset.Sub(c.now())
	}
	return min(max(wait, minRateLimitWait), maxRateLimitWait)
}

func parseReset(h http.Header) (time.Time, bool) {
	sec, err := strconv.ParseInt(h.Get("Ratelimit-Reset"), 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// rateLimitWait waits d for a rate-limit bucket, unless that would pass ctx's deadline.
func (c *Client) rateLimitWait(ctx context.Context, ep string, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("%s: rate limit resets in %s, after the deadline: %w", ep, d.Round(time.Millisecond), ErrRateLimited)
	}
	c.log.WarnContext(ctx, "helix rate limited, waiting", "endpoint", ep, "wait", d)
	if c.onWait != nil {
		c.onWait(d)
	}
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("%s: waiting for rate limit: %w", ep, err)
	}
	return nil
}

// noteBucket remembers when a bucket reported empty (Ratelimit-Remaining: 0) refills.
func (c *Client) noteBucket(tok string, h http.Header) {
	rem := h.Get("Ratelimit-Remaining")
	if rem == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reset, ok := parseReset(h)
	if rem != "0" || !ok || !reset.After(c.now()) {
		delete(c.blocked, tok)
		return
	}
	if len(c.blocked) >= 1024 { // drop entries that already passed
		now := c.now()
		for k, t := range c.blocked {
			if !t.After(now) {
				delete(c.blocked, k)
			}
		}
	}
	c.blocked[tok] = reset
}

// waitBucket waits before a request whose token's bucket was reported empty.
func (c *Client) waitBucket(ctx context.Context, ep, tok string) error {
	c.mu.Lock()
	reset, ok := c.blocked[tok]
	delete(c.blocked, tok)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	d := reset.Sub(c.now())
	if d <= 0 {
		return nil
	}
	return c.rateLimitWait(ctx, ep, min(d, maxRateLimitWait))
}
