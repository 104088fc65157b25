package hub

import "time"

// Broker numbers a hub's events and carries them between instances that share it (one
// implementation: internal/broker, on Redis). The hub calls it instead of numbering events
// itself; the broker hands every instance's hub what it must deliver through Apply,
// ApplyState and ApplyRelease.
type Broker interface {
	// Publish stores the event (m with its checked JSON event) once for each session, each
	// its next sequence number, and hands it to every instance; it returns the numbers, or an
	// error and nothing stored. It may wait on the network, bounded.
	Publish(ids []string, m Message, event []byte) ([]uint64, error)
	// SendState stores and hands on a session's state frame; Release ends a session
	// everywhere. Neither waits for other instances.
	SendState(id string, frame []byte)
	Release(id string)
	// Sync brings h's copy of session id up to date (Apply) and then calls then, with no
	// event of the session applied between the two. A Redis failure is the broker's to
	// report and repair later; then is called regardless.
	Sync(h *Hub, id string, then func())
}

// Brokered reports whether a Broker numbers this hub's events (several instances).
func (h *Hub) Brokered() bool { return h.cfg.Broker != nil }

// Sequenced is one event as a Broker numbered it.
type Sequenced struct {
	Seq   uint64
	Type  string    // frame "type"
	Time  time.Time // frame "time"
	Event []byte    // frame "event", valid JSON
}

// Apply takes events the broker numbered for session id in epoch, ascending. With create
// false, a session this hub does not hold is left alone (nobody here watches it; Subscribe
// will Sync it). An event at or below the session's last seq is a duplicate and skipped. A
// new epoch starts the session over (the broker lost its numbering: Redis lost its data);
// a seq beyond last+1 means the events between are gone. In both cases the history restarts
// and current subscribers get a history_gap frame first, so what they miss is said.
func (h *Hub) Apply(id, epoch string, evs []Sequenced, create bool) {
	if h.closed.Load() {
		return
	}
	if !create && !h.holds(id) {
		return
	}
	nowNano := h.cfg.Now().UnixNano()
	s := h.lock(id)
	if s == nil {
		return
	}
	defer s.mu.Unlock()
	if s.epoch != epoch {
		if s.lastSeq > 0 {
			h.restart(s, epoch, firstSeq(evs), nowNano)
		}
		s.epoch, s.lastSeq = epoch, 0
	}
	for _, e := range evs {
		if e.Seq <= s.lastSeq {
			continue
		}
		if e.Seq > s.lastSeq+1 {
			if s.lastSeq > 0 || len(s.subs) > 0 {
				h.restart(s, epoch, e.Seq, nowNano)
			} else {
				h.frames.Add(-int64(s.hist.len()))
				s.hist = ring{}
			}
		}
		s.lastSeq = e.Seq
		h.record(s, e.Seq, e.Type, e.Time, e.Event, nowNano)
	}
	s.lastActive = nowNano
}

// restart empties the history of s (kept consecutive) and tells its subscribers, in epoch,
// that what followed their last seq is gone up to first; the caller holds s.mu.
func (h *Hub) restart(s *session, epoch string, first uint64, nowNano int64) {
	h.frames.Add(-int64(s.hist.len()))
	s.hist = ring{}
	if len(s.subs) > 0 {
		h.fanOut(s, Frame{Data: appendGapFrame(make([]byte, 0, 96), epoch, s.lastSeq, first)}, nowNano)
	}
}

func firstSeq(evs []Sequenced) uint64 {
	if len(evs) == 0 {
		return 1
	}
	return evs[0].Seq
}

// Last returns the epoch and last seq of session id as this hub holds it; ok is false when
// it holds no such session.
func (h *Hub) Last(id string) (epoch string, seq uint64, ok bool) {
	sh := h.shard(id)
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	if s == nil {
		return "", 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return "", 0, false
	}
	return s.epoch, s.lastSeq, true
}

// ApplyState is SendState as the broker delivers it to this instance; a session this hub
// does not hold is left alone.
func (h *Hub) ApplyState(id string, frame []byte, create bool) {
	if !create && !h.holds(id) {
		return
	}
	h.sendState(id, frame)
}

// ApplyRelease is Release as the broker delivers it to this instance.
func (h *Hub) ApplyRelease(id string) { h.release(id) }

// Sessions returns the ids of the sessions this hub holds, for a broker that must bring them
// up to date after missing messages.
func (h *Hub) Sessions() []string {
	var ids []string
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for id := range sh.m {
			ids = append(ids, id)
		}
		sh.mu.RUnlock()
	}
	return ids
}

func (h *Hub) holds(id string) bool {
	sh := h.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id] != nil
}
