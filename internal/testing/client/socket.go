package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/coder/websocket"
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
// epoch and the last sequence, and resumes from them.
type Socket struct {
	Conn    *websocket.Conn
	Epoch   string
	LastSeq uint64
}

// Connect dials /ws and sends stream_connected with the resume point.
func (b *Browser) Connect(ctx context.Context, epoch string, lastSeq uint64) (*Socket, error) {
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
	return &Socket{Conn: c, Epoch: epoch, LastSeq: lastSeq}, nil
}

// Next reads the next frame.
func (s *Socket) Next(ctx context.Context) (Frame, error) {
	_, b, err := s.Conn.Read(ctx)
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("apptest: frame is not JSON: %w: %s", err, b)
	}
	f.Raw = b
	if f.Type == "event_updated" {
		if f.Epoch != s.Epoch {
			s.Epoch, s.LastSeq = f.Epoch, 0
		}
		if f.Seq <= s.LastSeq {
			return f, fmt.Errorf("apptest: seq %d after %d: duplicate or out of order", f.Seq, s.LastSeq)
		}
		s.LastSeq = f.Seq
	}
	return f, nil
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

// Close closes the socket normally.
func (s *Socket) Close() { s.Conn.Close(websocket.StatusNormalClosure, "bye") }
