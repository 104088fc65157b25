package hub

// Pacing: a publisher (the callback handler) may hold its answer while a receiver of what it
// published is far behind, so that a burst of concurrent callbacks cannot outrun one socket
// by more than the history holds (which would drop the socket and lose what the history no
// longer has). Publishing itself never waits: PublishPaced only hands back a channel the
// caller may wait on, for a bounded time, after it has published.

import "time"

// Defaults of the pacing rule.
const (
	// A subscriber is "behind" when more than a quarter of what may wait for it waits
	// (MaxPendingBytes/4 bytes or BufferSize/4 live frames): far enough from the stall rule's
	// bound that the publishers already in flight cannot reach it before they wait.
	paceShare = 4
	// DefaultPaceWindow: a subscriber behind is waited for unless its writer has been blocked
	// in one write (Subscriber.BeginWrite) for longer than this: that browser is not reading
	// (it may be stalling; the stall rule deals with it), and publishers stop waiting for it at
	// once. A writer that is not in a write is busy however long it has not taken (on a
	// CPU-starved server it is not scheduled yet): waiting for it slows the senders (their
	// 204s) instead of letting its queue grow to the bounds that drop it.
	DefaultPaceWindow = time.Second
)

// PublishPaced publishes m to each of the sessions ids like PublishTo and returns a channel
// that is closed when a receiver that is behind has taken its waiting frames (or was dropped),
// or nil when no receiver is behind. It never blocks; the caller chooses how long to wait on
// the channel (and may ask again: another receiver may be behind too).
func (h *Hub) PublishPaced(ids []string, m Message) <-chan struct{} {
	pace, _ := h.DeliverPaced(ids, m) // the broker logs its failures
	return pace
}

// DeliverPaced is PublishPaced that says, as Deliver does, whether the event was taken.
// With a Broker, the receivers whose sockets this instance holds are the ones paced.
func (h *Hub) DeliverPaced(ids []string, m Message) (<-chan struct{}, error) {
	event, ok := h.checked(m)
	if !ok || len(ids) == 0 {
		return nil, nil
	}
	if b := h.cfg.Broker; b != nil {
		if _, err := b.Publish(ids, m, event); err != nil {
			return nil, err
		}
		return h.behindAny(ids), nil
	}
	var pace <-chan struct{}
	for _, id := range ids {
		if _, p := h.publish(id, m, event, pace == nil); p != nil {
			pace = p
		}
	}
	return pace, nil
}

// behindAny is behind for the first of the sessions ids held here that has a subscriber
// behind.
func (h *Hub) behindAny(ids []string) <-chan struct{} {
	now := h.cfg.Now().UnixNano()
	for _, id := range ids {
		sh := h.shard(id)
		sh.mu.RLock()
		s := sh.m[id]
		sh.mu.RUnlock()
		if s == nil {
			continue
		}
		s.mu.Lock()
		p := h.behind(s, now)
		s.mu.Unlock()
		if p != nil {
			return p
		}
	}
	return nil
}

// behind returns the channel Take closes, for the first subscriber of s that is behind
// and busy (not blocked in one write for longer than PaceWindow), or nil. The caller holds
// s.mu.
func (h *Hub) behind(s *session, now int64) <-chan struct{} {
	for _, sub := range s.subs {
		live := len(sub.q) - sub.backlog
		if sub.bytes <= h.cfg.MaxPendingBytes/paceShare && live <= h.cfg.BufferSize/paceShare {
			continue
		}
		if since := sub.writeSince.Load(); since != 0 && now-since > int64(h.cfg.PaceWindow) {
			continue // its browser is not reading: stalling, not busy
		}
		if sub.drained == nil {
			sub.drained = make(chan struct{})
		}
		return sub.drained
	}
	return nil
}

// signalDrained wakes the publishers waiting for sub; the caller holds s.mu.
func (sub *Subscriber) signalDrained() {
	if sub.drained != nil {
		close(sub.drained)
		sub.drained = nil
	}
}
