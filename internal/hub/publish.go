package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// frameOverhead is the fixed part of an event frame: keys, punctuation, a
// 20-digit seq and an RFC 3339 time with nanoseconds.
const frameOverhead = len(`{"type":"","seq":,"epoch":"","time":"","event":}`) + 20 + 35

var jsonNull = []byte("null")

// EventMessage is the event_updated message of ev, JSON-encoded once: publish it to every
// session that receives ev. at is the frame's time (when the event reached us).
func EventMessage(ev any, at time.Time) (Message, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("hub: encode event: %w", err)
	}
	return Message{Type: "event_updated", Event: b, Time: at, Valid: true}, nil
}

// Publish gives m the next sequence number of session id, encodes it once,
// records it in the session's history and offers it to every subscriber of
// the session. A subscriber whose buffer is full is dropped with ErrSlow. The
// session is created if needed: with no subscriber, the event is still kept
// for the next one (the socket may be reconnecting).
//
// Publish never blocks. It returns the sequence number, or 0 once the hub is
// closed.
func (h *Hub) Publish(id string, m Message) uint64 {
	event, ok := h.checked(m)
	if !ok {
		return 0
	}
	if b := h.cfg.Broker; b != nil {
		seqs, _ := b.Publish([]string{id}, m, event) // the broker logs its failures
		if len(seqs) == 1 {
			return seqs[0]
		}
		return 0
	}
	seq, _ := h.publish(id, m, event, false)
	return seq
}

// PublishTo publishes m to each of the sessions ids (every receiver of one Twitch event),
// checking its JSON once; each session gets its own sequence number. It never blocks.
func (h *Hub) PublishTo(ids []string, m Message) {
	_ = h.Deliver(ids, m) // the broker logs its failures
}

// Deliver is PublishTo that says whether the event was taken: with a Broker, an error means
// it was not stored (Redis is unreachable) and no session received it, so a webhook should
// be answered with a 5xx for Twitch to retry. Without one it never fails.
func (h *Hub) Deliver(ids []string, m Message) error {
	event, ok := h.checked(m)
	if !ok || len(ids) == 0 {
		return nil
	}
	if b := h.cfg.Broker; b != nil {
		_, err := b.Publish(ids, m, event)
		return err
	}
	for _, id := range ids {
		h.publish(id, m, event, false)
	}
	return nil
}

// checked returns m's event bytes, null if they are not valid JSON; false once the hub is
// closed.
func (h *Hub) checked(m Message) ([]byte, bool) {
	if h.closed.Load() {
		return nil, false
	}
	event := []byte(m.Event)
	if len(event) == 0 || (!m.Valid && !json.Valid(event)) {
		event = jsonNull // one bad payload must not break every client's parser, again on each replay
	}
	return event, true
}

// publish sequences, records and fans out m for session id; with pace, it also returns the
// channel of a subscriber that is behind (see PublishPaced).
func (h *Hub) publish(id string, m Message, event []byte, pace bool) (uint64, <-chan struct{}) {
	now := h.cfg.Now()
	at := m.Time
	if at.IsZero() {
		at = now
	}
	nowNano := now.UnixNano()

	s := h.lock(id)
	if s == nil {
		return 0, nil
	}
	defer s.mu.Unlock()
	s.lastSeq++
	h.record(s, s.lastSeq, m.Type, at, event, nowNano)
	if pace {
		return s.lastSeq, h.behind(s, nowNano)
	}
	return s.lastSeq, nil
}

// record encodes the event numbered seq (the session's lastSeq) in the session's epoch, keeps
// it in the history and offers it to every subscriber; the caller holds s.mu.
func (h *Hub) record(s *session, seq uint64, typ string, at time.Time, event []byte, nowNano int64) {
	frame := make([]byte, 0, frameOverhead+len(typ)+len(s.epoch)+len(event))
	frame = appendEventFrame(frame, typ, seq, s.epoch, at, event)

	delta := 1 - s.hist.push(entry{seq: seq, at: nowNano, frame: frame}, h.cfg.HistorySize)
	delta -= s.hist.trimBefore(nowNano - int64(h.cfg.HistoryAge))
	delta -= s.hist.trimBytes(h.cfg.HistoryBytes)
	h.frames.Add(int64(delta))
	s.lastActive = nowNano
	h.fanOut(s, Frame{Data: frame, sent: at.UnixNano()}, nowNano)
}

// SendState stores frame as the latest state of session id (for example feed
// statuses) and offers it to the session's current subscribers, dropping any
// whose buffer is full. New subscribers receive it before anything else.
// State frames are not sequenced and not part of the history; an empty frame
// clears the stored state. A frame equal to the stored state is not sent again.
// The hub keeps frame: don't modify it afterwards. SendState never blocks and
// does nothing once the hub is closed.
func (h *Hub) SendState(id string, frame []byte) {
	if h.closed.Load() {
		return
	}
	if b := h.cfg.Broker; b != nil {
		b.SendState(id, frame)
		return
	}
	h.sendState(id, frame)
}

func (h *Hub) sendState(id string, frame []byte) {
	if h.closed.Load() {
		return
	}
	now := h.cfg.Now().UnixNano()
	s := h.lock(id)
	if s == nil {
		return
	}
	defer s.mu.Unlock()
	s.lastActive = now
	if len(frame) == 0 {
		s.state = nil
		return
	}
	if bytes.Equal(frame, s.state) {
		return
	}
	s.state = frame
	h.fanOut(s, Frame{Data: frame}, now)
}

// fanOut queues frame for every subscriber without waiting, dropping those
// that stalled; the caller holds s.mu.
func (h *Hub) fanOut(s *session, frame Frame, now int64) {
	// Backwards, so that drop's swap with the last element only moves a
	// subscriber that has already been served.
	for i := len(s.subs) - 1; i >= 0; i-- {
		if sub := s.subs[i]; !sub.push(frame, &h.cfg, now) {
			h.drop(s, sub, ErrSlow, now)
		}
	}
}

func appendEventFrame(b []byte, typ string, seq uint64, epoch string, at time.Time, event []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"epoch":"`...)
	b = append(b, epoch...)
	b = append(b, `","time":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event":`...)
	b = append(b, event...)
	return append(b, '}')
}

func appendGapFrame(b []byte, epoch string, afterSeq, firstSeq uint64) []byte {
	b = append(b, `{"type":"history_gap","epoch":"`...)
	b = append(b, epoch...)
	b = append(b, `","after_seq":`...)
	b = strconv.AppendUint(b, afterSeq, 10)
	b = append(b, `,"first_available_seq":`...)
	b = strconv.AppendUint(b, firstSeq, 10)
	return append(b, '}')
}

// appendString appends s as a JSON string. Plain ASCII, the usual case for
// message types, is copied as is; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
