package lock

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultClaimTTL is the lease of a claim (internal/relay claims a Twitch user's sessions as
// "user:<id>"): renewed every couple of seconds by its owner, so a dead owner's users are free
// again within it.
const DefaultClaimTTL = 6 * time.Second

// Claims holds claims ("claim:<key>" locks; internal/relay's keys are "user:<twitch user id>")
// for internal/relay's Owners.
type Claims struct {
	l   *Redis
	ttl time.Duration

	mu   sync.Mutex
	held map[string]*Lease
}

// NewClaims returns Claims on l with leases of ttl (0 = DefaultClaimTTL).
func NewClaims(l *Redis, ttl time.Duration) *Claims {
	if ttl <= 0 {
		ttl = DefaultClaimTTL
	}
	return &Claims{l: l, ttl: ttl, held: map[string]*Lease{}}
}

func claimName(sid string) string { return "claim:" + sid }

// Claim renews our claim on sid, or takes it if nobody holds it; false while another
// instance does.
func (c *Claims) Claim(ctx context.Context, sid string) (bool, error) {
	c.mu.Lock()
	lease := c.held[sid]
	c.mu.Unlock()
	if lease != nil {
		err := lease.Renew(ctx, c.ttl)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrNotHeld) {
			return false, err
		}
		c.mu.Lock()
		if c.held[sid] == lease {
			delete(c.held, sid)
		}
		c.mu.Unlock()
	}
	lease, ok, err := c.l.TryAcquire(ctx, claimName(sid), c.ttl)
	if err != nil || !ok {
		return false, err
	}
	c.mu.Lock()
	c.held[sid] = lease
	c.mu.Unlock()
	return true, nil
}

// Drop releases our claim on sid, if we hold it.
func (c *Claims) Drop(ctx context.Context, sid string) {
	c.mu.Lock()
	lease := c.held[sid]
	delete(c.held, sid)
	c.mu.Unlock()
	if lease != nil {
		_ = lease.Release(ctx)
	}
}

// Held is how many claims this instance holds (metrics, tests).
func (c *Claims) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}
