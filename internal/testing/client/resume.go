package client

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// CloseSlow is the close code of a socket that fell behind (docs/PROTOCOL.md): the page
// comes back at once and resumes.
const CloseSlow websocket.StatusCode = 4000

// MaxResumes is a generous bound on a resuming socket's reconnects for a test's burst of
// events: far more than a healthy server needs, few enough to end a reconnect loop quickly.
const MaxResumes = 300

// GapError is a history_gap frame on a socket that resumed from a point it had reached:
// events it was owed are no longer kept, or the session started over.
type GapError struct{ Frame Frame }

func (e *GapError) Error() string {
	return fmt.Sprintf("client: history gap after seq %d (first available %d, epoch %s): events lost",
		e.Frame.AfterSeq, e.Frame.FirstAvailableSeq, e.Frame.Epoch)
}

// ResumeOnClose makes s come back as the page does: when the server closes it for falling
// behind (4000) or going away (1001), or the connection drops without a close frame, Next
// dials again through the same browser with the epoch and last seq seen and carries on, at
// most max times in all and within Next's context. From then on s also holds the server to
// the protocol's promise of every event once, in order: Next fails on a missing seq
// (ErrMissing), an event id seen before (ErrDuplicate) and a history_gap after a point the
// socket had reached (*GapError). It returns s.
func (s *Socket) ResumeOnClose(max int) *Socket {
	s.maxResumes = max
	s.seen = map[string]bool{}
	return s
}

// Resumes is how many times the socket has dialled again.
func (s *Socket) Resumes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes
}

// resumable says whether the page would come back after the read error err.
func (s *Socket) resumable(ctx context.Context, err error) bool {
	if s.seen == nil || ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false
	}
	switch websocket.CloseStatus(err) {
	case CloseSlow, websocket.StatusGoingAway, -1: // -1: no close frame, the connection dropped
		return true
	}
	return false
}

// reconnect dials until a connection resumes from the last point seen, backing off after a
// failed dial (a restarting server), within ctx and the socket's bound.
func (s *Socket) reconnect(ctx context.Context, cause error) error {
	backoff := 5 * time.Millisecond
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.resumes >= s.maxResumes {
			n := s.resumes
			s.mu.Unlock()
			return fmt.Errorf("client: gave up after %d resumes at seq %d: %w", n, s.LastSeq, cause)
		}
		s.resumes++
		s.mu.Unlock()

		c, err := s.b.dialStream(ctx, s.Epoch, s.LastSeq)
		if err == nil {
			s.mu.Lock()
			if s.closed { // Close came while we dialled
				s.mu.Unlock()
				c.CloseNow()
				return ErrClosed
			}
			old := s.Conn
			s.Conn = c
			s.mu.Unlock()
			old.CloseNow()
			s.fromPoint = true
			return nil
		}
		cause = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("client: resume at seq %d: %w (last dial: %v)", s.LastSeq, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
