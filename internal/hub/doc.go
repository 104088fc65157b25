// Package hub fans already-encoded event frames out to the subscribers (the
// WebSocket connections) of a relay session, and keeps a bounded,
// sequence-numbered history per session so that a subscriber that reconnects
// loses nothing. It knows nothing about WebSockets or HTTP: it deals in Frames,
// each a complete JSON text message.
//
// # Guarantees
//
//   - Publish and SendState never block: no I/O, no waiting for a subscriber,
//     only a short per-session critical section. Frames wait for a subscriber in
//     a queue that grows with them and lets go when drained; a subscriber whose
//     browser really stalls (its writer has been blocked in one write to the
//     socket for longer than StallTimeout, 10 s, or more live frames wait than
//     the history holds) is
//     dropped (Done closes, Err returns ErrSlow), never waited for. A burst a
//     reading socket drains in time is never a reason.
//   - Every published event gets the next sequence number of its session,
//     starting at 1, and is encoded once; subscribers and the history share the
//     same []byte, which nobody may modify.
//   - Subscribe computes the backlog and registers the subscriber under the same
//     lock Publish takes, so a subscriber receives, in this order: the session's
//     latest state frame (if any), a history_gap notice (if events it asked for
//     are no longer kept), every kept event after Resume.AfterSeq, then live
//     events, in sequence order, with no duplicates and no gaps.
//   - The backlog is queued at once and does not count as falling behind, so a
//     long backlog never makes a new subscriber slow.
//   - The socket's writer waits on Ready (or is started by the OnReady hook, so that
//     it need not exist while nothing waits) and takes everything waiting with Take,
//     writing it in order; TakeUpTo takes one batch at a time, so that a pacing
//     publisher is released as the writer progresses. The writer marks each write
//     with BeginWrite and EndWrite: that is the stall rule's evidence. PublishPaced lets a publisher (the callback) wait, for a
//     time it bounds itself, while a receiver is behind by a quarter of what may wait
//     for it and busy (not blocked in one write for longer than PaceWindow): a burst is then paced by the socket instead of
//     outrunning it, and Publish itself still never waits. A subscriber ends when Done is closed, which the hub
//     does exactly once, under the session lock; Err then says why (ErrSlow,
//     ErrReleased, ErrGoingAway, ErrUnsubscribed). Frames still waiting stay
//     for Take.
//   - Memory is bounded: at most HistorySize events per session and none older
//     than HistoryAge. Release frees a session at once. Sweep (called by Run on a
//     ticker, or by the caller) frees aged history and every session that has no
//     subscriber and has seen no activity for HistoryAge. Sessions with
//     subscribers are never swept.
//
// # Epochs and resuming
//
// Each Hub has a random epoch (Epoch). Sequence numbers mean something only
// within one epoch: a Resume from another epoch (a previous process, or a new
// client with an empty epoch) is treated as AfterSeq 0 and receives the whole
// kept history. A Resume whose AfterSeq is beyond the session's newest sequence
// (the session was released or swept and started over at 1) also receives the
// whole history, preceded by a history_gap notice whose first_available_seq is
// not above after_seq: the client should treat it as a reset.
//
// A client renders every frame in the order it arrives (the hub has already
// removed duplicates), remembers the epoch and the last seq it saw, and sends
// both when it reconnects.
//
// # Frames
//
// Event (Publish), in this key order:
//
//	{"type":"event_updated","seq":7,"epoch":"3f9c0a6e1b2d4c58","time":"2026-01-02T15:04:05.123456789Z","event":{...}}
//
// time is Message.Time, or the hub's clock at Publish when zero; event is
// Message.Event verbatim, or null when it is empty or not valid JSON.
//
// Gap notice (Subscribe), sent before the backlog when the history no longer
// holds every event after the resume point:
//
//	{"type":"history_gap","epoch":"3f9c0a6e1b2d4c58","after_seq":3,"first_available_seq":40}
//
// State frames (SendState) are passed through as given and carry no seq.
package hub
