package twitchsim

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// bucketKey identifies a Helix rate-limit bucket: per client id for app tokens, per client
// id and user for user tokens.
type bucketKey struct{ clientID, userID string }

// bucket is a token bucket that refills RateLimitPoints per minute.
type bucket struct {
	points float64
	last   time.Time
}

// rateState refills the bucket of key to now and returns it. Caller holds mu.
func (s *Sim) rateState(key bucketKey) *bucket {
	now := s.now()
	limit := float64(s.cfg.RateLimitPoints)
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{points: limit, last: now}
		s.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.points = math.Min(limit, b.points+limit*elapsed.Seconds()/rateLimitWindow.Seconds())
	}
	b.last = now
	return b
}

// peekPoints returns the points of a bucket without creating it. Caller holds mu.
func (s *Sim) peekPoints(key bucketKey) float64 {
	if _, ok := s.buckets[key]; !ok {
		return float64(s.cfg.RateLimitPoints)
	}
	return s.rateState(key).points
}

// takePoint charges one point to the bucket of key, writes the Ratelimit-* headers and
// reports whether the request may go on. Caller holds mu.
func (s *Sim) takePoint(w http.ResponseWriter, key bucketKey) bool {
	b := s.rateState(key)
	ok := b.points >= 1
	if ok {
		b.points--
	}
	s.writeRateHeaders(w, b.points)
	return ok
}

// writeRateHeaders writes Ratelimit-Limit, -Remaining and -Reset (Unix seconds at which the
// bucket is full again). Caller holds mu.
func (s *Sim) writeRateHeaders(w http.ResponseWriter, points float64) {
	limit := float64(s.cfg.RateLimitPoints)
	reset := s.now().Add(rateLimitWindow)
	if limit > 0 {
		reset = s.now().Add(time.Duration((limit - points) / limit * float64(rateLimitWindow)))
	}
	h := w.Header()
	h.Set("Ratelimit-Limit", strconv.Itoa(s.cfg.RateLimitPoints))
	h.Set("Ratelimit-Remaining", strconv.Itoa(int(math.Floor(points))))
	h.Set("Ratelimit-Reset", strconv.FormatInt(ceilUnix(reset), 10))
}

// ceilUnix rounds t up to whole Unix seconds, so a client waiting until then is never early.
func ceilUnix(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// DrainRateLimit empties the Helix bucket of a client and user ("" for the app token's
// bucket): the next request in it gets 429 until the bucket refills.
func (s *Sim) DrainRateLimit(clientID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateState(bucketKey{clientID, userID}).points = 0
}

// RateLimitRemaining returns the whole points left in a bucket, after refilling it.
func (s *Sim) RateLimitRemaining(clientID, userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(math.Floor(s.rateState(bucketKey{clientID, userID}).points))
}
