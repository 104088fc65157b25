package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/auth"
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
// (the original design's step 8) and resumes from the last sequence the client saw. Once the
// socket is subscribed the handler returns: the request, its session data and the handler's
// stack go, and the socket lives on in a wsSocket (wssocket.go), counted in s.sockets.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	s.sockets.Add(1)
	handedOff := false
	defer func() {
		if !handedOff {
			s.sockets.Done()
		}
	}()
	ctx := r.Context()
	user, sid, streamer := s.currentUser(ctx), s.sessions.GetString(ctx, keySessionID), s.currentStreamer(ctx)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.originPatterns()})
	if err != nil {
		s.obs.WSRejected("origin")
		s.log.Info("ws: refused", "err", err, "client", ClientIP(r).String())
		return // Accept has answered (403 for a foreign origin)
	}
	if user == nil || streamer == nil {
		s.obs.WSRejected("no_session")
		c.Close(closeNoSession, "log in and choose a streamer first")
		c.CloseNow()
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
		c.CloseNow()
		return
	}
	refuse := func(code websocket.StatusCode, reason string) {
		if code != 0 {
			c.Close(code, reason)
		}
		c.CloseNow()
		s.open.close(entry)
	}

	hello, err := readHello(ctx, c, s.limits.HelloTimeout)
	if err != nil {
		s.obs.WSRejected("bad_message")
		closeForReadError(c, err)
		refuse(0, "")
		return
	}
	src, err := s.tokens.source(ctx, sid)
	if err != nil {
		refuse(closeEnded, "your Twitch login has ended")
		return
	}
	sub, err := s.opt.Hub.Subscribe(sid, hub.Resume{Epoch: hello.Epoch, AfterSeq: hello.LastSeq})
	if err != nil {
		refuse(websocket.StatusGoingAway, "server shutting down")
		return
	}
	// The feed statuses come from the hub: the session's state frame, the first frame taken.
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "epoch": sub.Epoch(), "streamer": streamer.Login})
	if err := write(ctx, c, welcome); err != nil {
		sub.Close()
		refuse(0, "")
		return
	}
	s.opt.Relay.SocketOpened(sid)
	s.obs.WSOpened()
	s.live.add(sid)
	sock := &wsSocket{s: s, c: c, sub: sub, entry: entry, sid: sid, subscribed: make(chan struct{}), writeTimeout: wsWriteTimeout}
	// Subscribing may wait on Twitch (rate limits): it runs beside the socket, which keeps
	// being served, and the socket waits for it before it ends. Its context is not the
	// socket's: a tab closed mid-create must not leave a half-made subscription.
	a := &account{User: user, SID: sid, Token: src}
	go func() {
		defer close(sock.subscribed)
		s.subscribe(context.WithoutCancel(ctx), a, streamer)
	}()
	handedOff = true
	go sock.run() // owns the socket from here; s.sockets.Done when it ends
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
	if cur, ok := a.Token.(interface{ Current() auth.Token }); ok {
		sess.Scopes = cur.Current().Scopes
	}
	if err := s.opt.Relay.SubscribeToAllEvents(ctx, sess); err != nil && !errors.Is(err, relay.ErrShuttingDown) {
		s.log.Warn("subscribe", "session", shortID(a.SID), "broadcaster_id", st.ID, "err", err)
	}
}
