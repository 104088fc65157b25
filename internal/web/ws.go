package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
)

// WebSocket close codes (documented in docs/PROTOCOL.md).
const (
	closeSlow       websocket.StatusCode = 4000 // fell behind: reconnect at once and resume
	closeEnded      websocket.StatusCode = 4001 // the session ended (logout, lease, token): do not reconnect
	closeBadMessage websocket.StatusCode = 4400 // the client sent something we do not understand
	closeNoSession  websocket.StatusCode = 4401 // no logged-in session or no streamer chosen
	closeChanged    websocket.StatusCode = 4409 // the session now shows another streamer: reload
	closeTooMany    websocket.StatusCode = 4429 // too many sockets for the session or the address
)

// The reasons sent with closeTooMany and closeChanged; the page shows its own words.
const (
	reasonTooMany = "too many tabs open"
	reasonChanged = "streamer changed in another tab"
)

// clientMessage is what the browser may send.
type clientMessage struct {
	Type    string `json:"type"`
	Epoch   string `json:"epoch"`
	LastSeq uint64 `json:"last_seq"`
}

// GET /ws: the live event socket of a logged-in session. Authenticated by the session cookie,
// origin-checked; the first message must be stream_connected, which starts the subscriptions
// (the original design's step 8) and resumes from the last sequence the client saw.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	s.sockets.Add(1)
	defer s.sockets.Done()
	ctx := r.Context()
	user, sid, streamer := s.currentUser(ctx), s.sessions.GetString(ctx, keySessionID), s.currentStreamer(ctx)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.originPatterns()})
	if err != nil {
		s.obs.WSRejected("origin")
		s.log.Info("ws: refused", "err", err, "client", ClientIP(r).String())
		return // Accept has answered (403 for a foreign origin)
	}
	defer c.CloseNow()
	if user == nil || streamer == nil {
		s.obs.WSRejected("no_session")
		c.Close(closeNoSession, "log in and choose a streamer first")
		return
	}
	c.SetReadLimit(wsReadLimit)
	// Counted from here, before the hello: a socket that never says stream_connected holds
	// its place until the hello timeout.
	entry, over := s.open.open(s.limits, sid, streamer.ID, ClientIP(r))
	if over != limitNone {
		s.obs.WSRejected("too_many_" + string(over))
		s.log.Info("ws: refused", "reason", "too many sockets", "per", string(over), "session", shortID(sid), "client", ClientIP(r).String())
		c.Close(closeTooMany, reasonTooMany)
		return
	}
	defer s.open.close(entry)

	hello, err := readHello(ctx, c, s.limits.HelloTimeout)
	if err != nil {
		s.obs.WSRejected("bad_message")
		closeForReadError(c, err)
		return
	}
	src, err := s.tokens.source(ctx, sid)
	if err != nil {
		c.Close(closeEnded, "your Twitch login has ended")
		return
	}
	sub, err := s.opt.Hub.Subscribe(sid, hub.Resume{Epoch: hello.Epoch, AfterSeq: hello.LastSeq})
	if err != nil {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer sub.Close()
	s.opt.Relay.SocketOpened(sid)
	defer s.opt.Relay.SocketClosed(sid)
	s.obs.WSOpened()
	defer s.obs.WSClosed()
	s.live.add(sid)
	defer s.live.remove(sid)
	// Subscribing may wait on Twitch (rate limits): it runs beside the socket, which this
	// handler keeps serving, and the handler waits for it before it returns. Its context is
	// not the socket's: a tab closed mid-create must not leave a half-made subscription.
	subscribed := make(chan struct{})
	go func() {
		defer close(subscribed)
		s.subscribe(context.WithoutCancel(ctx), &account{User: user, SID: sid, Token: src}, streamer)
	}()
	defer func() { <-subscribed }()

	// The reader owns nothing but the read side: a second message must also be valid.
	readErr := make(chan error, 1)
	go func() { readErr <- readLoop(ctx, c) }()

	// The feed statuses come from the hub: the session's state frame, the first frame taken.
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "epoch": sub.Epoch(), "streamer": streamer.Login})
	if err := write(ctx, c, welcome); err != nil {
		return
	}
	ping := time.NewTicker(wsPingInterval)
	defer ping.Stop()
	var batch []hub.Frame
	// writeAll writes everything the hub has queued for this socket, in order.
	writeAll := func() error {
		batch = sub.Take(batch[:0])
		for i, f := range batch {
			if err := write(ctx, c, f.Data); err != nil {
				return err
			}
			if sent := f.Sent(); !sent.IsZero() {
				s.obs.Delivered(time.Since(sent))
			}
			batch[i] = hub.Frame{}
		}
		return nil
	}
	for {
		select {
		case <-sub.Ready():
			if err := writeAll(); err != nil {
				return
			}
		case <-sub.Done():
			// What the hub queued before it let go of us still goes out.
			if err := writeAll(); err != nil {
				return
			}
			switch err := sub.Err(); {
			case errors.Is(err, hub.ErrSlow):
				s.obs.WSSlow()
				c.Close(closeSlow, "too slow: reconnect and resume")
			case errors.Is(err, hub.ErrReleased) && changed(entry):
				c.Close(closeChanged, reasonChanged)
			case errors.Is(err, hub.ErrReleased):
				c.Close(closeEnded, "session ended")
			default:
				c.Close(websocket.StatusGoingAway, "server going away: reconnect")
			}
			return
		case <-entry.changed:
			c.Close(closeChanged, reasonChanged)
			return
		case err := <-readErr:
			closeForReadError(c, err)
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func (s *Server) originPatterns() []string {
	var p []string
	if s.opt.PublicURL != nil {
		p = append(p, s.opt.PublicURL.Host)
	}
	return append(p, s.opt.AllowedOrigins...)
}

// errBadClientMessage is a client frame we refuse.
type errBadClientMessage struct{ reason string }

func (e errBadClientMessage) Error() string { return e.reason }

// changed reports whether the socket's session now shows another streamer.
func changed(e *socketEntry) bool {
	select {
	case <-e.changed:
		return true
	default:
		return false
	}
}

// errNoHello: no stream_connected within the hello timeout; readHello has closed the socket
// with 1008 already.
var errNoHello = errors.New("web: no stream_connected in time")

// readHello waits for stream_connected, at most timeout. The read's context is not the
// timeout's: coder/websocket closes the connection when a Read's context ends, before a close
// frame could be sent, and the client would see 1006. A timer closes the socket with 1008
// instead, which also ends the read.
func readHello(ctx context.Context, c *websocket.Conn, timeout time.Duration) (clientMessage, error) {
	type result struct {
		m   clientMessage
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := readMessage(ctx, c)
		got <- result{m, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var res result
	select {
	case res = <-got:
	case <-t.C:
		c.Close(websocket.StatusPolicyViolation, "no stream_connected message in time")
		<-got // the close ended the read
		return clientMessage{}, errNoHello
	}
	if res.err == nil && res.m.Type != "stream_connected" {
		res.err = errBadClientMessage{"expected stream_connected first"}
	}
	return res.m, res.err
}

// readLoop reads until the connection ends; anything but a repeated stream_connected is refused.
func readLoop(ctx context.Context, c *websocket.Conn) error {
	for {
		m, err := readMessage(ctx, c)
		if err != nil {
			return err
		}
		if m.Type != "stream_connected" {
			return errBadClientMessage{"unknown message type"}
		}
	}
}

func readMessage(ctx context.Context, c *websocket.Conn) (clientMessage, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return clientMessage{}, err
	}
	return decodeClientMessage(typ, b)
}

// decodeClientMessage parses one client frame; errors are errBadClientMessage.
func decodeClientMessage(typ websocket.MessageType, b []byte) (clientMessage, error) {
	var m clientMessage
	if typ != websocket.MessageText {
		return m, errBadClientMessage{"binary frames are not accepted"}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errBadClientMessage{"not JSON"}
	}
	if m.Type == "" {
		return m, errBadClientMessage{"message has no type"}
	}
	return m, nil
}

func closeForReadError(c *websocket.Conn, err error) {
	var bad errBadClientMessage
	switch {
	case errors.As(err, &bad):
		c.Close(closeBadMessage, bad.reason)
	}
	// Otherwise the client went away (or exceeded the read limit, which the library closed
	// with 1009 already): nothing more to say.
}

func write(ctx context.Context, c *websocket.Conn, frame []byte) error {
	wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, frame)
}

// subscribe starts the session's subscriptions; feed statuses reach the page over the socket.
func (s *Server) subscribe(ctx context.Context, a *account, st *sessionStreamer) {
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	sess := relay.Session{
		ID: a.SID, UserID: a.User.ID, UserLogin: a.User.Login, UserToken: a.Token,
		Streamer: relay.Streamer{ID: st.ID, Login: st.Login, DisplayName: st.DisplayName},
	}
	if err := s.opt.Relay.SubscribeToAllEvents(ctx, sess); err != nil && !errors.Is(err, relay.ErrShuttingDown) {
		s.log.Warn("subscribe", "session", shortID(a.SID), "broadcaster_id", st.ID, "err", err)
	}
}
