package hub

import (
	"sync/atomic"
	"time"
)

// Subscriber is one registered receiver (one socket) of a session's frames.
//
// The goroutine that owns the socket waits on Ready, takes every waiting frame
// with Take and writes them, until Done is closed; then it takes what is left.
// It calls Close when it stops, typically with defer.
type Subscriber struct {
	h     *Hub
	s     *session
	ready chan struct{} // holds a token while frames wait
	done  chan struct{}
	err   error // set before done is closed

	// Guarded by s.mu.
	idx     int           // position in s.subs, -1 once dropped
	q       []Frame       // waiting frames, oldest first
	bytes   int           // of the live frames in q
	backlog int           // frames of q that Subscribe put there (not counted as falling behind)
	drained chan struct{} // made by a pacing publisher, closed by the next Take or the drop
	notify  func()        // OnReady's hook

	// writeSince is the unix ns at which the writer's current write to the socket began (see
	// BeginWrite), 0 while it is not in a write: the stall rule's evidence. Atomic, so that
	// marking a write costs no lock.
	writeSince atomic.Int64
}

// Frame is one frame for a subscriber's socket. Data is shared: don't modify it.
type Frame struct {
	Data []byte
	sent int64 // unix nanoseconds (a time.Time would add 16 bytes to every buffered slot)
}

// Sent is when a live event was handed to Publish (Message.Time: for a webhook, when it was
// verified), for the delivery-latency metric; zero for state, gap and backlog frames.
func (f Frame) Sent() time.Time {
	if f.sent == 0 {
		return time.Time{}
	}
	return time.Unix(0, f.sent)
}

// Ready has a value while frames wait for Take. Never closed; watch Done.
func (sub *Subscriber) Ready() <-chan struct{} { return sub.ready }

// Take appends every waiting frame to dst, oldest first, and returns it: first
// the state frame, gap notice and backlog computed by Subscribe, then live
// frames. After Done, it still returns what was waiting.
func (sub *Subscriber) Take(dst []Frame) []Frame {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	dst = append(dst, sub.q...)
	if cap(sub.q) > 64 { // a burst's queue: let its memory go
		sub.q = nil
	} else {
		clear(sub.q)
		sub.q = sub.q[:0]
	}
	sub.bytes, sub.backlog = 0, 0
	sub.signalDrained()
	select { // taken: a token left by an earlier signal means nothing now
	case <-sub.ready:
	default:
	}
	return dst
}

// TakeUpTo is Take bounded by size: it takes the oldest waiting frames of at most maxBytes
// together (at least one frame), so that a writer takes again after each write: a publisher
// pacing on it is released as soon as it progresses, and what it has not taken yet still
// counts as waiting (against the queue's bounds). Frames left keep Ready's value.
func (sub *Subscriber) TakeUpTo(dst []Frame, maxBytes int) []Frame {
	sub.s.mu.Lock()
	n, size := 0, 0
	for n < len(sub.q) && (n == 0 || size+len(sub.q[n].Data) <= maxBytes) {
		size += len(sub.q[n].Data)
		n++
	}
	if n == len(sub.q) {
		sub.s.mu.Unlock()
		return sub.Take(dst)
	}
	defer sub.s.mu.Unlock()
	dst = append(dst, sub.q[:n]...)
	fromBacklog := min(n, sub.backlog)
	for _, f := range sub.q[fromBacklog:n] {
		sub.bytes -= len(f.Data)
	}
	sub.backlog -= fromBacklog
	clear(sub.q[:n])
	sub.q = sub.q[n:]
	sub.signalDrained()
	return dst
}

// push queues f, or reports false when the subscriber is to be dropped (ErrSlow): its
// writer has been blocked in one write for longer than StallTimeout (the browser stopped
// reading), or f would take the queue past its bounds. How long frames have waited is no
// reason: on a CPU-starved server they wait for a writer that is not scheduled yet, not for
// the browser. The caller holds s.mu.
func (sub *Subscriber) push(f Frame, cfg *Config, now int64) bool {
	if sub.stuck(cfg, now) || len(sub.q) > 0 &&
		(len(sub.q)-sub.backlog >= cfg.BufferSize || sub.bytes+len(f.Data) > cfg.MaxPendingBytes) {
		return false
	}
	sub.q = append(sub.q, f)
	sub.bytes += len(f.Data)
	select {
	case sub.ready <- struct{}{}:
		if sub.notify != nil {
			sub.notify()
		}
	default: // already signalled
	}
	return true
}

// stuck says whether the writer has been in one write for longer than StallTimeout at now.
func (sub *Subscriber) stuck(cfg *Config, now int64) bool {
	since := sub.writeSince.Load()
	return since != 0 && now-since > int64(cfg.StallTimeout)
}

// BeginWrite tells the hub that the writer starts writing frames it took to the socket, a
// write that blocks while the browser does not read (TCP backpressure); EndWrite tells it the
// write returned. A subscriber whose writer is in one write for longer than StallTimeout has
// stalled: the next frame published to it drops it (ErrSlow), and pacing stops waiting for
// it after PaceWindow. Not being in a write, however long frames have waited, is being busy
// (the writer is not scheduled yet), never a stall. Both are lock-free and cheap.
func (sub *Subscriber) BeginWrite() { sub.writeSince.Store(sub.h.cfg.Now().UnixNano()) }

// EndWrite: see BeginWrite.
func (sub *Subscriber) EndWrite() { sub.writeSince.Store(0) }

// Stall drops the subscriber as slow (ErrSlow), as push does once its write has been
// blocked for StallTimeout: for the writer's own timer, which sees a write stuck without a
// publish to notice it. A no-op once the subscriber is dropped or closed.
func (sub *Subscriber) Stall() { sub.end(ErrSlow) }

// Epoch is the epoch of the session's sequence numbers: what the welcome frame names.
func (sub *Subscriber) Epoch() string {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	return sub.s.epoch
}

// OnReady has f called whenever frames start waiting (when Ready gets its value) and once
// when the subscriber is dropped or closed, so that a socket's writer need only run while
// there is something to do. f runs under the session's lock: it must not block or call the
// hub. If frames wait already, or Done is closed, f is called at once.
func (sub *Subscriber) OnReady(f func()) {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	sub.notify = f
	if len(sub.q) > 0 || sub.idx < 0 {
		f()
	}
}

// Pending is how many frames wait for Take.
func (sub *Subscriber) Pending() int {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	return len(sub.q)
}

// Done is closed when the hub drops the subscriber or Close is called.
// Frames waiting then remain for Take.
func (sub *Subscriber) Done() <-chan struct{} { return sub.done }

// Err says why Done was closed: ErrSlow, ErrReleased, ErrGoingAway or
// ErrUnsubscribed. It is nil while the subscriber is registered.
func (sub *Subscriber) Err() error {
	select {
	case <-sub.done:
		return sub.err
	default:
		return nil
	}
}

// Close unregisters the subscriber (Err becomes ErrUnsubscribed unless the hub
// dropped it first). It is idempotent and safe to call concurrently with
// anything else.
func (sub *Subscriber) Close() { sub.end(ErrUnsubscribed) }

// end drops the subscriber for reason, unless it is dropped already.
func (sub *Subscriber) end(reason error) {
	select {
	case <-sub.done:
		return
	default:
	}
	now := sub.h.cfg.Now().UnixNano()
	sub.s.mu.Lock()
	if sub.idx >= 0 {
		sub.h.drop(sub.s, sub, reason, now)
	}
	sub.s.mu.Unlock()
}

// Subscribe registers a subscriber to session id, creating the session if
// needed. Under the lock Publish takes, it queues for the subscriber the
// session's latest state frame (if any), a history_gap notice when the history
// no longer holds every event after the resume point, and the backlog: every
// kept event after r.AfterSeq (after 0 when r.Epoch is not this hub's epoch).
// Live frames follow, so the subscriber sees every event in order, once. The
// backlog does not count as falling behind, so a backlog of any length is
// delivered.
//
// Subscribe returns ErrClosed once the hub is closed.
//
// With a Broker, the broker first brings this hub's copy of the session up to date (its
// epoch and every event it stored that this hub lacks), and no event of the session enters
// the hub between that and the subscriber's registration.
func (h *Hub) Subscribe(id string, r Resume) (*Subscriber, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if b := h.cfg.Broker; b != nil {
		var sub *Subscriber
		var err error
		b.Sync(h, id, func() { sub, err = h.subscribe(id, r) })
		return sub, err
	}
	return h.subscribe(id, r)
}

func (h *Hub) subscribe(id string, r Resume) (*Subscriber, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	now := h.cfg.Now().UnixNano()
	s := h.lock(id)
	if s == nil {
		return nil, ErrClosed
	}
	defer s.mu.Unlock()
	h.trim(s, now)

	after, reported := r.AfterSeq, r.AfterSeq
	stale := false
	switch {
	case r.Epoch != s.epoch:
		after, reported = 0, 0
	case after > s.lastSeq: // the session started over since the client saw it
		after, stale = 0, true
	}
	first := s.lastSeq + 1 // the first seq still available: the next one if none is kept
	if s.hist.len() > 0 {
		first = s.hist.at(0).seq
	}
	from := s.hist.index(after)

	gap := stale || first > after+1
	sub := &Subscriber{h: h, s: s, ready: make(chan struct{}, 1), done: make(chan struct{}), idx: len(s.subs)}
	if s.state != nil {
		sub.q = append(sub.q, Frame{Data: s.state})
	}
	if gap {
		sub.q = append(sub.q, Frame{Data: appendGapFrame(make([]byte, 0, 96), s.epoch, reported, first)})
	}
	for i := from; i < s.hist.len(); i++ {
		sub.q = append(sub.q, Frame{Data: s.hist.at(i).frame})
	}
	if sub.backlog = len(sub.q); sub.backlog > 0 {
		sub.ready <- struct{}{}
	}
	s.subs = append(s.subs, sub)
	h.subscribers.Add(1)
	return sub, nil
}
