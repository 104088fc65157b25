package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Streamer changes are throttled because each costs the app's shared Helix rate limit about
// ten points (the old streamer's subscriptions deleted, the new one's created when the page's
// socket connects): without a bound one user switching in a loop empties the bucket, and every
// other user's subscriptions wait for it to refill.
//
// Without Redis the buckets live in this process (throttle, below). With REDIS_URL every
// instance shares them in Redis (store.RedisThrottle: one Lua script doing the same
// all-or-nothing take with refill, on Redis's clock, each bucket expiring a window after its
// last take), so a user has one budget however many instances serve them. When Redis does
// not answer, the change is refused with a 503 page that says so (errThrottleUnavailable):
// never unlimited, and the streamer being watched stays on.
const (
	throttleWindow  = time.Minute     // a bucket of limit changes refills over this
	throttleMaxKeys = 100000          // beyond this many buckets, full ones are forgotten
	throttleTimeout = 2 * time.Second // a take from Redis gives up after this
)

// ThrottleWindow is the refill window of the streamer-change buckets, for a shared
// Throttle built outside this package.
const ThrottleWindow = throttleWindow

// Throttle is a set of token buckets shared by every instance (store.RedisThrottle): Take
// spends one token from each key's bucket if all have one, otherwise nothing and retry says
// when. An error means the buckets could not be read: the caller refuses.
type Throttle interface {
	Take(ctx context.Context, keys ...string) (ok bool, retry time.Duration, err error)
}

// throttle is a set of token buckets, one per key, each of limit tokens refilled over
// throttleWindow. Safe for concurrent use.
type throttle struct {
	limit float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func newThrottle(limit int, now func() time.Time) *throttle {
	return &throttle{limit: float64(limit), now: now, buckets: map[string]*tokenBucket{}}
}

// Take implements Throttle in this process; it never fails.
func (t *throttle) Take(_ context.Context, keys ...string) (bool, time.Duration, error) {
	ok, retry := t.take(keys...)
	return ok, retry, nil
}

// take spends one token from each of keys' buckets if all have one; otherwise nothing is
// spent and retry says when they will.
func (t *throttle) take(keys ...string) (ok bool, retry time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.buckets) > throttleMaxKeys {
		for k, b := range t.buckets {
			if t.refill(b, now) >= t.limit {
				delete(t.buckets, k)
			}
		}
	}
	bs := make([]*tokenBucket, len(keys))
	for i, k := range keys {
		b := t.buckets[k]
		if b == nil {
			b = &tokenBucket{tokens: t.limit, at: now}
			t.buckets[k] = b
		}
		bs[i] = b
		if have := t.refill(b, now); have < 1 {
			retry = max(retry, time.Duration((1-have)/t.limit*float64(throttleWindow)))
		}
	}
	if retry > 0 {
		return false, retry
	}
	for _, b := range bs {
		b.tokens--
	}
	return true, 0
}

// refill brings b up to now and returns its tokens.
func (t *throttle) refill(b *tokenBucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(t.limit, b.tokens+t.limit*d.Seconds()/throttleWindow.Seconds())
		b.at = now
	}
	return b.tokens
}

// errTooManyChanges is the 429 page for a throttled streamer change, saying when to retry;
// the caller sets Retry-After.
func errTooManyChanges(limit int, retry time.Duration) *appError {
	secs := int(math.Ceil(retry.Seconds()))
	return &appError{Status: http.StatusTooManyRequests, Heading: "Too many streamer changes",
		Message:  fmt.Sprintf("You can change streamer %d times a minute. Please wait %d seconds, then try again; the streamer you were watching is still on.", limit, secs),
		RetryURL: "/enter_streamer", RetryLabel: "Choose a streamer",
		retryAfter: strconv.Itoa(secs)}
}

// errThrottleUnavailable is the 503 page when the shared buckets (Redis) cannot be read: the
// change is refused rather than let through unbounded.
var errThrottleUnavailable = &appError{Status: http.StatusServiceUnavailable, Heading: "Streamer changes are paused",
	Message:  "twitchrelay can't check how many streamer changes you have left right now, so it can't change the streamer. The streamer you were watching is still on: please try again in a minute.",
	RetryURL: "/enter_streamer", RetryLabel: "Choose a streamer", retryAfter: "30"}
