package hub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the internal limits, and fixed sizes. HistorySize and HistoryAge are
// configuration (HISTORY_SIZE, HISTORY_AGE): their defaults are internal/config's.
const (
	// A subscriber is dropped as slow (ErrSlow: the page reconnects and resumes) only when its
	// browser really stalls: its writer has been blocked in one write to the socket (TCP
	// backpressure: the browser does not read) for longer than StallTimeout, or more live frames
	// wait than the history could replay (MaxPendingBytes, by default the history's bytes) or
	// than BufferSize: memory stays bounded. How long frames have waited is no reason: on a
	// CPU-starved server they wait for a writer goroutine not scheduled yet, not for the browser,
	// and pacing holds the senders' answers meanwhile so the queue rarely nears its bounds. The
	// queue grows as frames wait and lets go of its memory when drained, so an idle socket pays
	// for none of it.
	DefaultBufferSize    = 16384            // live frames a subscriber may fall behind
	DefaultStallTimeout  = 10 * time.Second // how long one blocked write to the socket means a stall
	DefaultSweepInterval = time.Minute      // how often Run calls Sweep
	DefaultHistoryBytes  = 1 << 20          // per session, when Config.HistoryBytes is 0

	shardCount = 64 // session map shards (a power of two)
	epochBytes = 8  // random bytes in an epoch (16 hex characters)
)

// Errors returned by Subscribe and reported by Subscriber.Err.
var (
	ErrClosed       = errors.New("hub: closed")
	ErrSlow         = errors.New("hub: subscriber too slow")
	ErrReleased     = errors.New("hub: session released")
	ErrGoingAway    = errors.New("hub: going away")
	ErrUnsubscribed = errors.New("hub: subscriber closed")
)

// Config tunes a Hub. HistorySize and HistoryAge are required; other zero fields take the
// defaults above.
type Config struct {
	HistorySize     int              // most events kept per session (HISTORY_SIZE)
	HistoryBytes    int              // most bytes of event frames kept per session (HISTORY_BYTES); 0 = DefaultHistoryBytes
	HistoryAge      time.Duration    // events older than this are forgotten; idle sessions are swept after it (HISTORY_AGE)
	BufferSize      int              // live frames a subscriber may fall behind before it is dropped
	MaxPendingBytes int              // bytes of live frames a subscriber may fall behind; 0 = HistoryBytes, so a dropped socket can resume from the history
	StallTimeout    time.Duration    // how long its writer may be blocked in one write (BeginWrite)
	SweepInterval   time.Duration    // period of Run's sweeps
	PaceWindow      time.Duration    // PublishPaced does not wait for a subscriber whose writer is blocked in one write longer; 0 = DefaultPaceWindow
	Now             func() time.Time // clock; time.Now by default
	// Broker, when set, numbers events and carries them and state frames between instances
	// (internal/broker on Redis): Publish, SendState and Release go to it, and what it
	// delivers comes back in through Apply, ApplyState and ApplyRelease. Nil: this hub alone
	// numbers its sessions' events (one process).
	Broker Broker
}

// Message is an event to publish.
type Message struct {
	Type  string          // frame "type", e.g. "event_updated"
	Event json.RawMessage // frame "event"; must be valid JSON, else null is sent
	Time  time.Time       // frame "time"; zero means the hub's clock at Publish
	// Valid says Event is known to be valid JSON (encoding/json produced it), so
	// Publish need not scan it again. Publish copies Event: the caller may reuse it.
	Valid bool
	// ID names the source message (a webhook's session and message id): a Broker stores
	// an event with the same ID once, however often it is delivered. Optional.
	ID string
}

// Resume says where a subscriber's previous connection stopped.
type Resume struct {
	Epoch    string // the hub epoch the client last saw ("" for a new client)
	AfterSeq uint64 // the last seq the client saw in that epoch
}

// Stats is a snapshot for metrics.
type Stats struct {
	Sessions    int    // sessions held (with subscribers, history or state)
	Subscribers int    // registered subscribers
	Frames      int    // history frames held, all sessions together
	Slow        uint64 // subscribers dropped for a full buffer since New
}

// Hub is a set of sessions, each with sequenced history and subscribers.
// It is safe for concurrent use.
type Hub struct {
	cfg    Config
	epoch  string
	seed   maphash.Seed
	shards [shardCount]shard

	closed atomic.Bool
	done   chan struct{} // closed by Close; stops Run

	sessions    atomic.Int64
	subscribers atomic.Int64
	frames      atomic.Int64
	slow        atomic.Uint64
}

// shard is one part of the session map. Its lock guards the map only; lock
// order is shard, then session.
type shard struct {
	mu sync.RWMutex
	m  map[string]*session
}

// session is the state of one relay session, guarded by mu.
type session struct {
	mu         sync.Mutex
	dead       bool   // removed from the hub; lookers-up must retry
	epoch      string // the epoch of lastSeq: the hub's own, or the broker's for the session
	lastSeq    uint64
	hist       ring
	state      []byte
	subs       []*Subscriber
	lastActive int64 // unix nanoseconds of the last publish, state or leaving subscriber
}

// New returns a Hub with a fresh random epoch. It panics without HistorySize and
// HistoryAge: that is a wiring mistake, not something to run with.
func New(cfg Config) *Hub {
	if cfg.HistorySize <= 0 || cfg.HistoryAge <= 0 {
		panic("hub: Config.HistorySize and Config.HistoryAge are required (HISTORY_SIZE, HISTORY_AGE)")
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = cfg.HistoryBytes
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.PaceWindow <= 0 {
		cfg.PaceWindow = DefaultPaceWindow
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var b [epochBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	h := &Hub{
		cfg:   cfg,
		epoch: hex.EncodeToString(b[:]),
		seed:  maphash.MakeSeed(),
		done:  make(chan struct{}),
	}
	for i := range h.shards {
		h.shards[i].m = make(map[string]*session)
	}
	return h
}

// Epoch returns the hub's random epoch, a short hex string: the epoch of every session
// unless a Broker numbers them (then each session has the broker's; Subscriber.Epoch).
func (h *Hub) Epoch() string { return h.epoch }

// Stats returns counters for metrics.
func (h *Hub) Stats() Stats {
	return Stats{
		Sessions:    int(h.sessions.Load()),
		Subscribers: int(h.subscribers.Load()),
		Frames:      int(h.frames.Load()),
		Slow:        h.slow.Load(),
	}
}

// Release ends a session (its lease ended): its subscribers are dropped with
// ErrReleased and its history and state are freed. A later Publish or
// Subscribe for the same id starts a new session at seq 1.
func (h *Hub) Release(id string) {
	if b := h.cfg.Broker; b != nil {
		b.Release(id)
		return
	}
	h.release(id)
}

func (h *Hub) release(id string) {
	sh := h.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.m[id]
	if s == nil {
		return
	}
	delete(sh.m, id)
	s.mu.Lock()
	h.kill(s, ErrReleased)
	s.mu.Unlock()
}

// Close shuts the hub down: every subscriber is dropped with ErrGoingAway and
// all sessions are freed. Later Subscribe calls return ErrClosed; Publish and
// SendState do nothing. Close is idempotent.
func (h *Hub) Close() {
	if !h.closed.CompareAndSwap(false, true) {
		return
	}
	close(h.done)
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			s.mu.Lock()
			h.kill(s, ErrGoingAway)
			s.mu.Unlock()
		}
		clear(sh.m)
		sh.mu.Unlock()
	}
}

func (h *Hub) shard(id string) *shard {
	return &h.shards[maphash.String(h.seed, id)&(shardCount-1)]
}

// lock returns the live session id, created if needed, with its lock held; or
// nil once the hub is closed.
func (h *Hub) lock(id string) *session {
	sh := h.shard(id)
	for {
		sh.mu.RLock()
		s := sh.m[id]
		sh.mu.RUnlock()
		if s == nil {
			sh.mu.Lock()
			if h.closed.Load() {
				sh.mu.Unlock()
				return nil
			}
			if s = sh.m[id]; s == nil {
				s = &session{epoch: h.epoch, lastActive: h.cfg.Now().UnixNano()}
				sh.m[id] = s
				h.sessions.Add(1)
			}
			sh.mu.Unlock()
		}
		s.mu.Lock()
		if !s.dead {
			return s
		}
		s.mu.Unlock() // released, swept or closed meanwhile: look again
	}
}

// kill frees a session that its caller has just removed from its shard map.
// The caller holds the shard lock and s.mu.
func (h *Hub) kill(s *session, reason error) {
	s.dead = true
	for len(s.subs) > 0 {
		h.drop(s, s.subs[len(s.subs)-1], reason, 0)
	}
	h.frames.Add(-int64(s.hist.len()))
	s.hist = ring{}
	s.state = nil
	h.sessions.Add(-1)
}

// drop unregisters sub and closes its Done channel, once. The caller holds
// s.mu; now (unix nanoseconds) marks the session active, if not 0.
func (h *Hub) drop(s *session, sub *Subscriber, reason error, now int64) {
	last := len(s.subs) - 1
	moved := s.subs[last]
	s.subs[sub.idx] = moved
	moved.idx = sub.idx
	s.subs[last] = nil
	s.subs = s.subs[:last]
	sub.idx = -1
	sub.err = reason
	close(sub.done)
	sub.signalDrained()
	if sub.notify != nil {
		sub.notify()
	}
	h.subscribers.Add(-1)
	if reason == ErrSlow {
		h.slow.Add(1)
	}
	if now != 0 {
		s.lastActive = now
	}
}
