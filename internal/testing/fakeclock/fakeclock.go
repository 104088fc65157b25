// Package fakeclock holds the settable clocks tests hand to the code they drive (Config.Now),
// so that expiry, windows and sweeps are tested without sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a time that only moves when told. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as a Config.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Offset is real time plus an offset that only moves forward when told: for a whole running
// system (the simulator's token expiry) where a frozen clock would stop timers. Safe for
// concurrent use; the zero value is real time.
type Offset struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is time.Now plus the offset.
func (c *Offset) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Offset) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
