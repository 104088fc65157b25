package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/coder/websocket"
)

// Errors of a socket's frames: the protocol promises every event once, in order.
var (
	ErrOutOfOrder = errors.New("client: duplicate or out-of-order seq")
	ErrDuplicate  = errors.New("client: the same event arrived twice")
	ErrMissing    = errors.New("client: a seq is missing")
	ErrClosed     = errors.New("client: socket closed")
)

// Frame is any server → client message of the stream socket (docs/PROTOCOL.md).
type Frame struct {
	Type              string          `json:"type"`
	Seq               uint64          `json:"seq"`
	Epoch             string          `json:"epoch"`
	Event             *Event          `json:"event"`
	Feeds             []Feed          `json:"feeds"`
	AfterSeq          uint64          `json:"after_seq"`
	FirstAvailableSeq uint64          `json:"first_available_seq"`
	Raw               json.RawMessage `json:"-"`
}

// Event is the normalised event inside event_updated.
type Event struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Summary  string          `json:"summary"`
	Title    string          `json:"title"`
	Category string          `json:"category"`
	Raw      json.RawMessage `json:"raw"`
}

// Feed is one feed's status inside feed_status.
type Feed struct {
	Feed   string `json:"feed"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Socket is the stream page's socket as the page's JavaScript uses it: it remembers the
// epoch and the last sequence, and resumes from them (by hand with Connect, or by itself
// after ResumeOnClose). One goroutine reads it; Close may be called from any.
type Socket struct {
	Conn    *websocket.Conn // the current connection; a resuming socket replaces it
	Epoch   string
	LastSeq uint64

	b *Browser

	// Set by ResumeOnClose; used by the reading goroutine only.
	maxResumes int
	fromPoint  bool            // the current connection asked to resume from a point it had reached
	seen       map[string]bool // event ids received
	pending    []Frame         // the rest of a batch message, for the next Next calls

	mu      sync.Mutex // guards Conn's replacement, closed and resumes
	closed  bool
	resumes int
}

// Connect dials /ws and sends stream_connected with the resume point.
func (b *Browser) Connect(ctx context.Context, epoch string, lastSeq uint64) (*Socket, error) {
	c, err := b.dialStream(ctx, epoch, lastSeq)
	if err != nil {
		return nil, err
	}
	return &Socket{Conn: c, Epoch: epoch, LastSeq: lastSeq, b: b, fromPoint: epoch != "" || lastSeq > 0}, nil
}

// dialStream dials /ws and sends stream_connected.
func (b *Browser) dialStream(ctx context.Context, epoch string, lastSeq uint64) (*websocket.Conn, error) {
	c, err := b.DialWS(ctx)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(map[string]any{"type": "stream_connected", "epoch": epoch, "last_seq": lastSeq})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		c.CloseNow()
		return nil, err
	}
	return c, nil
}

// Next reads the next frame; a resuming socket reconnects on the way as needed. A batch
// message (a JSON array of frames, docs/PROTOCOL.md) yields its frames one by one.
func (s *Socket) Next(ctx context.Context) (Frame, error) {
	for {
		if len(s.pending) > 0 {
			f := s.pending[0]
			s.pending[0] = Frame{}
			s.pending = s.pending[1:]
			return f, s.check(f)
		}
		_, b, err := s.Conn.Read(ctx)
		if err != nil {
			if !s.resumable(ctx, err) {
				return Frame{}, err
			}
			if err := s.reconnect(ctx, err); err != nil {
				return Frame{}, err
			}
			continue
		}
		if s.pending, err = DecodeMessage(b); err != nil {
			return Frame{}, err
		}
	}
}

// DecodeMessage parses one server message: a frame, or a batch of frames (a JSON array).
func DecodeMessage(b []byte) ([]Frame, error) {
	raws := []json.RawMessage{b}
	if len(b) > 0 && b[0] == '[' {
		raws = nil
		if err := json.Unmarshal(b, &raws); err != nil || len(raws) == 0 {
			return nil, fmt.Errorf("client: batch is not a JSON array of frames: %v: %.200s", err, b)
		}
	}
	frames := make([]Frame, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &frames[i]); err != nil {
			return nil, fmt.Errorf("client: frame is not JSON: %w: %.200s", err, raw)
		}
		frames[i].Raw = raw
	}
	return frames, nil
}

// check follows the frame's epoch and seq, and fails what breaks the protocol's promises.
func (s *Socket) check(f Frame) error {
	resuming := s.seen != nil
	switch f.Type {
	case "history_gap":
		if resuming && s.fromPoint {
			return &GapError{f}
		}
		if resuming { // a fresh page: what went before it came is not owed to it
			s.Epoch, s.LastSeq = f.Epoch, f.FirstAvailableSeq-1
		}
	case "event_updated", "events_missing": // both are numbered in the session's sequence
		if f.Epoch != s.Epoch {
			s.Epoch, s.LastSeq = f.Epoch, 0
		}
		if f.Seq <= s.LastSeq {
			return fmt.Errorf("%w: seq %d after %d", ErrOutOfOrder, f.Seq, s.LastSeq)
		}
		if resuming && f.Seq != s.LastSeq+1 {
			return fmt.Errorf("%w: seq %d after %d, with no history_gap", ErrMissing, f.Seq, s.LastSeq)
		}
		s.LastSeq = f.Seq
		if resuming && f.Event != nil && f.Event.ID != "" {
			if s.seen[f.Event.ID] {
				return fmt.Errorf("%w: %s again at seq %d", ErrDuplicate, f.Event.ID, f.Seq)
			}
			s.seen[f.Event.ID] = true
		}
	}
	return nil
}

// NextEvent reads frames until an event_updated arrives.
func (s *Socket) NextEvent(ctx context.Context) (Frame, error) {
	for {
		f, err := s.Next(ctx)
		if err != nil || f.Type == "event_updated" {
			return f, err
		}
	}
}

// WaitFeeds reads frames until a feed_status satisfies ok.
func (s *Socket) WaitFeeds(ctx context.Context, ok func(map[string]Feed) bool) (map[string]Feed, error) {
	for {
		f, err := s.Next(ctx)
		if err != nil {
			return nil, err
		}
		if f.Type != "feed_status" {
			continue
		}
		m := map[string]Feed{}
		for _, fd := range f.Feeds {
			m[fd.Feed] = fd
		}
		if ok(m) {
			return m, nil
		}
	}
}

// Close closes the socket normally; a resuming socket stops resuming.
func (s *Socket) Close() {
	s.mu.Lock()
	s.closed = true
	c := s.Conn
	s.mu.Unlock()
	c.Close(websocket.StatusNormalClosure, "bye")
}
