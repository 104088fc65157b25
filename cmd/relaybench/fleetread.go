package main

// The fleet's socket readers: frames to the recorder, and resumes as the page does.

import (
	"bytes"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/go-json-experiment/json/jsontext"
)

var (
	eventPrefix = []byte(`{"type":"event_updated","seq":`)
	epochKey    = []byte(`"epoch":"`)
	eventIDKey  = []byte(`"event":{"id":"`)
	gapPrefix   = []byte(`{"type":"history_gap"`)
)

// read hands every event frame of s to the current recorder until the socket ends.
func (f *fleet) read(s *sock) {
	for {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		_, r, err := c.Reader(f.ctx)
		if err != nil {
			if f.closing.Load() || !f.resume(s, err) {
				if !f.closing.Load() {
					f.sockErrs.Add(1)
				}
				return
			}
			continue
		}
		buf := f.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		now := time.Now().UnixNano()
		if err == nil {
			f.message(s, buf.Bytes(), now)
		}
		f.bufs.Put(buf)
	}
}

// maxResumes bounds one socket's reconnects.
const maxResumes = 10_000

// resume reconnects s the way the stream page does after the server dropped it as slow
// (4000) or went away (1001): it dials again and says stream_connected with the epoch and
// the last seq it saw, so the server replays exactly what was missed.
func (f *fleet) resume(s *sock, err error) bool {
	switch websocket.CloseStatus(err) {
	case 4000, websocket.StatusGoingAway:
	default:
		return false
	}
	if s.b == nil || s.resumed >= maxResumes {
		return false
	}
	s.resumed++
	f.resumes.Add(1)
	as, err := s.b.Connect(f.ctx, s.epoch, s.lastSeq)
	if err != nil {
		return false
	}
	s.mu.Lock()
	s.conn = as.Conn
	closing := f.closing.Load()
	s.mu.Unlock()
	if closing {
		as.Conn.Close(websocket.StatusNormalClosure, "bye")
	}
	return true
}

// message hands each frame of one server message to frame: the message is a frame, or a
// batch of frames (a JSON array, docs/PROTOCOL.md).
func (f *fleet) message(s *sock, b []byte, now int64) {
	if len(b) == 0 || b[0] != '[' {
		f.frame(s, b, now)
		return
	}
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	if _, err := dec.ReadToken(); err != nil { // '['
		f.sockErrs.Add(1)
		return
	}
	for dec.PeekKind() == '{' {
		v, err := dec.ReadValue()
		if err != nil {
			break
		}
		f.frame(s, v, now)
	}
	if _, err := dec.ReadToken(); err != nil { // ']', or what broke the batch
		f.sockErrs.Add(1)
	}
}

func (f *fleet) frame(s *sock, b []byte, now int64) {
	if bytes.HasPrefix(b, gapPrefix) && s.lastSeq > 0 {
		f.gaps.Add(1)
		return
	}
	if !bytes.HasPrefix(b, eventPrefix) {
		return // welcome, feed_status
	}
	rest := b[len(eventPrefix):]
	end := bytes.IndexByte(rest, ',')
	seq, _ := strconv.ParseUint(string(rest[:max(end, 0)]), 10, 64)
	if seq <= s.lastSeq {
		f.seqErrs.Add(1)
	}
	s.lastSeq = seq
	if j := bytes.Index(rest, epochKey); j >= 0 {
		e := rest[j+len(epochKey):]
		if e = e[:max(bytes.IndexByte(e, '"'), 0)]; string(e) != s.epoch {
			s.epoch = string(e)
		}
	}
	i := bytes.Index(rest, eventIDKey)
	if i < 0 {
		return
	}
	id := rest[i+len(eventIDKey):]
	id = id[:max(bytes.IndexByte(id, '"'), 0)]
	if bytes.HasPrefix(id, []byte(probePrefix)) {
		if !s.ready {
			s.ready = true
			f.mapped.Add(1)
		}
		return
	}
	if rec := f.rec.Load(); rec != nil {
		rec.received(id, s, now)
	}
}
