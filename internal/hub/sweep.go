package hub

import (
	"context"
	"time"
)

// Sweep frees what has aged out as of now: in every session, history entries
// older than HistoryAge; and every session that has no subscriber, no history
// left and no activity (publish, state, subscriber leaving) for HistoryAge,
// with its state frame. Sessions with subscribers are never removed. Sweep
// returns the number of sessions it removed.
//
// Run calls Sweep periodically; call it directly when driving the clock
// yourself. A resume into a swept session gets a history_gap notice, since
// the hub no longer knows what the client missed.
func (h *Hub) Sweep(now time.Time) int {
	nowNano := now.UnixNano()
	idle := nowNano - int64(h.cfg.HistoryAge)
	removed := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for id, s := range sh.m {
			s.mu.Lock()
			h.trim(s, nowNano)
			if len(s.subs) == 0 && s.hist.len() == 0 && s.lastActive <= idle {
				delete(sh.m, id)
				h.kill(s, nil)
				removed++
			}
			s.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return removed
}

// Run sweeps every SweepInterval until ctx is done or the hub is closed. It
// returns ctx.Err(), or nil after Close.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.done:
			return nil
		case <-t.C:
			h.Sweep(h.cfg.Now())
		}
	}
}

// trim drops the history entries of s older than HistoryAge at now (unix
// nanoseconds); the caller holds s.mu.
func (h *Hub) trim(s *session, now int64) {
	if n := s.hist.trimBefore(now - int64(h.cfg.HistoryAge)); n > 0 {
		h.frames.Add(-int64(n))
	}
}
