package hub

import "time"

// Subscriber is one registered receiver (one socket) of a session's frames.
//
// The goroutine that owns the socket reads C until Done is closed, and calls
// Close when it stops, typically with defer. C is never closed.
type Subscriber struct {
	h    *Hub
	s    *session
	c    chan Frame
	done chan struct{}
	err  error // set before done is closed
	idx  int   // position in s.subs, -1 once dropped; guarded by s.mu
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

// C returns the subscriber's frames: first the state frame, gap notice and
// backlog computed by Subscribe, then live frames. The channel is never
// closed; watch Done.
func (sub *Subscriber) C() <-chan Frame { return sub.c }

// Done is closed when the hub drops the subscriber or Close is called.
// Frames already in C remain readable.
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
func (sub *Subscriber) Close() {
	select {
	case <-sub.done:
		return
	default:
	}
	now := sub.h.cfg.Now().UnixNano()
	sub.s.mu.Lock()
	if sub.idx >= 0 {
		sub.h.drop(sub.s, sub, ErrUnsubscribed, now)
	}
	sub.s.mu.Unlock()
}

// Subscribe registers a subscriber to session id, creating the session if
// needed. Under the lock Publish takes, it fills the subscriber's channel with
// the session's latest state frame (if any), a history_gap notice when the
// history no longer holds every event after the resume point, and the backlog:
// every kept event after r.AfterSeq (after 0 when r.Epoch is not this hub's
// epoch). Live frames follow, so the subscriber sees every event in order,
// once. The channel holds the backlog plus BufferSize frames, so a backlog of
// any length is delivered.
//
// Subscribe returns ErrClosed once the hub is closed.
func (h *Hub) Subscribe(id string, r Resume) (*Subscriber, error) {
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
	case r.Epoch != h.epoch:
		after, reported = 0, 0
	case after > s.lastSeq: // the session started over since the client saw it
		after, stale = 0, true
	}
	first := s.lastSeq + 1 // the first seq still available: the next one if none is kept
	if s.hist.len() > 0 {
		first = s.hist.at(0).seq
	}
	from := s.hist.index(after)

	size := h.cfg.BufferSize + s.hist.len() - from
	if s.state != nil {
		size++
	}
	gap := stale || first > after+1
	if gap {
		size++
	}
	sub := &Subscriber{h: h, s: s, c: make(chan Frame, size), done: make(chan struct{}), idx: len(s.subs)}
	if s.state != nil {
		sub.c <- Frame{Data: s.state}
	}
	if gap {
		sub.c <- Frame{Data: appendGapFrame(make([]byte, 0, 96), h.epoch, reported, first)}
	}
	for i := from; i < s.hist.len(); i++ {
		sub.c <- Frame{Data: s.hist.at(i).frame}
	}
	s.subs = append(s.subs, sub)
	h.subscribers.Add(1)
	return sub, nil
}
