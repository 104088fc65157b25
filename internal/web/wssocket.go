package web

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/hub"
)

// wsSocket is one stream socket after its hello, with the goroutines and buffers it needs and
// no more: one reader goroutine (run) that owns the socket for its whole life, and a writer
// goroutine only while something is to be written (frames from the hub, the hub letting go,
// the streamer changing in another tab, a ping due). An idle socket is one goroutine parked
// in a read, a timer and the hub's subscriber.
type wsSocket struct {
	s     *Server
	c     *websocket.Conn
	sub   *hub.Subscriber
	entry *socketEntry
	sid   string

	subscribed chan struct{} // closed when the session's subscribe call has returned

	mu      sync.Mutex     // orders wake's start of a writer before the reader's final Wait
	writing atomic.Bool    // a writer goroutine runs (only it writes frames)
	stopped atomic.Bool    // the reader ended: writers stop at once; set under mu
	pingDue atomic.Bool    // the ping timer fired
	wrote   atomic.Int64   // frame messages written: a ping's proof of life while its pong queues behind them
	writers sync.WaitGroup // the writer goroutine, when one runs, and a ping waiting for its pong
	ping    *time.Timer
	stuck   *time.Timer // armed while a frame write runs: stall ends a write stuck for writeTimeout
	batch   []hub.Frame // the writer's; let go after a burst

	writeTimeout time.Duration // wsWriteTimeout (the hub's stall timeout); shorter in tests
}

// run reads until the socket ends, then stops the writer and lets everything go. It is the
// goroutine handleWS handed the socket to.
func (w *wsSocket) run() {
	s := w.s
	defer s.sockets.Done()
	defer w.c.CloseNow()
	defer s.open.close(w.entry)
	defer s.opt.Relay.SocketClosed(w.sid)
	defer s.obs.WSClosed()
	defer s.live.remove(w.sid)
	defer func() { <-w.subscribed }() // first: the session's subscribe has returned

	w.stuck = time.AfterFunc(w.writeTimeout, w.stall)
	w.stuck.Stop()
	w.ping = time.AfterFunc(wsPingInterval, func() {
		w.pingDue.Store(true)
		w.wake()
	})
	s.open.onChange(w.entry, w.wake)
	w.sub.OnReady(w.wake) // wakes at once if the backlog waits already
	w.wake()              // and the streamer may have changed before onChange

	// The reader owns nothing but the read side: a second message must also be valid. Its
	// context is not the request's, which is gone: the socket ends by its own close.
	err := readLoop(context.Background(), w.c)
	closeForReadError(w.c, err)
	w.mu.Lock()
	w.stopped.Store(true)
	w.mu.Unlock()
	w.ping.Stop()
	w.sub.Close()
	w.c.CloseNow() // a writer blocked on a stalled client gives up now
	w.writers.Wait()
	w.stuck.Stop() // after the writer: nothing arms it again
	w.ping.Stop()  // nor the ping, which a pong just in time may have reset
}

// wake starts the writer unless it runs. Called from the hub under its lock, from the ping
// timer and from the socket registry: it never blocks.
func (w *wsSocket) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped.Load() || !w.writing.CompareAndSwap(false, true) {
		return
	}
	w.writers.Add(1)
	go w.write()
}

// write does what is due, then ends; a wake that raced with its end starts it again.
func (w *wsSocket) write() {
	defer w.writers.Done()
	for {
		if !w.step() {
			w.c.CloseNow() // the socket is over: the reader's read ends
			w.writing.Store(false)
			return
		}
		w.writing.Store(false)
		// Something may have come between the last look and the store above; its wake found
		// writing set and did nothing, so look again before leaving.
		if !w.due() || !w.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// due says whether the writer has something to do.
func (w *wsSocket) due() bool {
	if w.stopped.Load() {
		return false
	}
	select {
	case <-w.sub.Done():
		return true
	case <-w.entry.changed:
		return true
	default:
	}
	return w.pingDue.Load() || w.sub.Pending() > 0
}

// step writes what waits, pings when due, and closes the socket with the right code when the
// hub let go of it or its streamer changed; false when the socket is over.
func (w *wsSocket) step() bool {
	s, c := w.s, w.c
	if w.stopped.Load() {
		return true // the reader is ending the socket: nothing more to write
	}
	select {
	case <-w.sub.Done():
		// What the hub queued before it let go of us still goes out.
		for w.sub.Pending() > 0 {
			if w.writeBatch() != nil {
				return false
			}
		}
		switch err := w.sub.Err(); {
		case errors.Is(err, hub.ErrSlow):
			s.obs.WSSlow()
			c.Close(closeSlow, "too slow: reconnect and resume")
		case errors.Is(err, hub.ErrReleased) && changed(w.entry):
			c.Close(closeChanged, reasonChanged)
		case errors.Is(err, hub.ErrReleased):
			c.Close(closeEnded, "session ended")
		case errors.Is(err, hub.ErrUnsubscribed): // the reader closed it: it is ending the socket
		default:
			c.Close(websocket.StatusGoingAway, "server going away: reconnect")
		}
		return false
	case <-w.entry.changed:
		c.Close(closeChanged, reasonChanged)
		return false
	default:
	}
	if w.writeBatch() != nil {
		return false
	}
	if w.pingDue.Swap(false) {
		w.writers.Add(1) // while this writer is counted: run's Wait cannot have returned
		go w.pingOnce(w.wrote.Load())
	}
	return true
}

// pingOnce pings and waits for the pong beside the writer, which goes on writing frames
// meanwhile (coder's Ping blocks until the pong is read). No pong within writeTimeout ends
// the socket only if no frame message was written meanwhile either: a browser whose frames
// keep going out is alive (one that stops reading blocks a write, which is the stall rule),
// and its pong merely queues behind what it still has to read, seconds on a CPU-starved
// machine. An idle socket that does not answer is a dead peer and is closed. before is the
// count of frame messages written when the ping was due.
func (w *wsSocket) pingOnce(before int64) {
	defer w.writers.Done()
	ctx, cancel := context.WithTimeout(context.Background(), w.writeTimeout)
	err := w.c.Ping(ctx)
	cancel()
	if err != nil && (w.wrote.Load() == before || !errors.Is(err, context.DeadlineExceeded)) {
		w.c.CloseNow() // the reader's read ends, and with it the socket
		return
	}
	w.ping.Reset(wsPingInterval)
}

// writeBatch writes the oldest frames the hub has queued for this socket, one batch message
// of them: taking one batch at a time lets the hub see the socket progress (pacing, stalls),
// and write loops while more waits.
func (w *wsSocket) writeBatch() error {
	w.batch = w.sub.TakeUpTo(w.batch[:0], wsBatchBytes) // writeFrames splits the rare batch its commas overflow
	err := w.s.writeFrames(w.send, w.batch)
	if cap(w.batch) > 64 { // a burst's slice: let its memory go
		w.batch = nil
	}
	return err
}

// send writes one message of frames with the writeTimeout bound, as write does, but on the
// socket's own timer: a context with a deadline would cost a timer, a context and coder's
// AfterFunc on that context for every message, and a burst of fan-out writes them by the
// hundred (docs/perf-profile-17.md). When the timer fires (stall), the socket is closed under
// the write, which then fails, as it does when a write context's deadline passes. The hub is
// told the write's span (BeginWrite, EndWrite): a write that blocks is the only evidence that
// the browser stopped reading, what the stall rule and pacing go by.
func (w *wsSocket) send(msg []byte) error {
	w.sub.BeginWrite()
	w.stuck.Reset(w.writeTimeout)
	err := w.c.Write(context.Background(), websocket.MessageText, msg)
	w.stuck.Stop()
	w.sub.EndWrite()
	if err == nil {
		w.wrote.Add(1)
	}
	return err
}

// stall is the stuck timer's: one write has been blocked for writeTimeout, so the browser
// stopped reading (TCP backpressure). This is the stall rule (hub.Subscriber.BeginWrite): the
// hub drops the subscriber as slow and the socket is closed under the write, without a close
// frame, which could not reach a browser that does not read: the page sees 1006 and
// reconnects and resumes as it does on 4000. Frames merely waiting for a writer that the CPU
// has not scheduled yet never come here.
func (w *wsSocket) stall() {
	w.sub.Stall()
	w.s.obs.WSSlow()
	w.c.CloseNow()
}
