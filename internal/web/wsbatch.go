package web

import (
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/hub"
)

// Batching of the socket's writes (docs/PROTOCOL.md, "Batches"): everything the hub queued
// for a socket goes out in as few WebSocket messages as possible, so that one write(2) and
// one browser message carry many events when a burst outruns the socket. A lone frame is
// sent as itself, so a quiet stream looks exactly as before.
const (
	wsBatchBytes = 64 << 10 // most bytes of one batch message (a larger frame goes alone)
)

// batchBuffers lends the buffers batch messages are built in: only sockets in a burst hold
// one, and only while they write.
type batchBuffers struct{ pool sync.Pool }

func (p *batchBuffers) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, wsBatchBytes)
	return &b
}

func (p *batchBuffers) put(b *[]byte) {
	if cap(*b) <= wsBatchBytes { // not a buffer a huge frame grew
		*b = (*b)[:0]
		p.pool.Put(b)
	}
}

// batchLen is how many of frames (at least one) fit in one message of at most max bytes:
// '[', the frames with a ',' between them, ']'.
func batchLen(frames []hub.Frame, max int) int {
	n, size := 1, len(frames[0].Data)+2
	for n < len(frames) && size+1+len(frames[n].Data) <= max {
		size += 1 + len(frames[n].Data)
		n++
	}
	return n
}

// appendBatch appends frames as one JSON array: each frame is a complete JSON object.
func appendBatch(b []byte, frames []hub.Frame) []byte {
	b = append(b, '[')
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.Data...)
	}
	return append(b, ']')
}

// writeFrames writes frames in order, as batches, each message with send, and counts each
// live event's delivery once its message is written. It clears frames' slots, so that a
// reused slice holds no frame after the write.
func (s *Server) writeFrames(send func([]byte) error, frames []hub.Frame) error {
	for len(frames) > 0 {
		n := batchLen(frames, wsBatchBytes)
		var err error
		if n == 1 {
			err = send(frames[0].Data)
		} else {
			bp := s.batches.get()
			*bp = appendBatch(*bp, frames[:n])
			err = send(*bp)
			s.batches.put(bp)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		for i := range frames[:n] {
			if sent := frames[i].Sent(); !sent.IsZero() {
				s.obs.Delivered(now.Sub(sent))
			}
			frames[i] = hub.Frame{}
		}
		frames = frames[n:]
	}
	return nil
}
