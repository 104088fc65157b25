package twitchsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// The EventSub WebSocket server (docs/TWITCH.md §7), on GET /ws of the simulator's
// listener. Strict as Twitch: a welcome first; a keepalive whenever nothing else was sent
// for half the keepalive timeout; Ping frames the client must answer; 4001 on any message
// the client sends; 4003 when nothing was subscribed within the keepalive timeout;
// session_reconnect to a new URL, the old connection kept until the grace time ends (4004
// if the client never came); and on any other disconnect the session's subscriptions are
// disabled and never delivered to again. Durations are counted in Config.WSSecond (1 s
// unless a test shortens it): keepalive_timeout_seconds=10 lasts 10 WSSeconds.

const (
	wsReconnectGrace = 30               // WSSeconds the old connection lives after session_reconnect
	wsDisabledKept   = 60               // WSSeconds a disabled subscription stays listed
	wsWriteTimeout   = 5 * time.Second  // one frame to a client
	wsPingEvery      = 5                // WSSeconds between Ping frames
	wsPingTimeout    = 10               // WSSeconds a Pong may take
	wsPingTimeoutMin = 5 * time.Second  // but never less: a test's short WSSecond must not turn a busy machine's late Pong into a 4002
	wsReadLimit      = 4 << 10          // bytes of a client frame (it is refused anyway)
	wsTick           = 4                // checks per keepalive timeout
	wsMinTick        = time.Millisecond // floor of the check interval
)

// wsState is the WebSocket side of the simulator; Sim.mu guards it.
type wsState struct {
	sessions   map[string]*wsSession // by session id, while connected
	reconnects map[string]string     // reconnect id -> session id (each used once)
	subs       map[string]*wsSub     // by subscription id
	order      []string              // subscription ids, oldest first
}

func newWSState() *wsState {
	return &wsState{sessions: map[string]*wsSession{}, reconnects: map[string]string{}, subs: map[string]*wsSub{}}
}

// wsSub is a WebSocket subscription and the user whose token created it.
type wsSub struct {
	eventsub.Subscription
	userID     string
	disabledAt time.Time
}

// wsSession is one EventSub WebSocket session: its connection (two during a reconnect).
type wsSession struct {
	id          string
	userID      string // the user of the first subscription's token; "" before it
	keepalive   int    // seconds
	connectedAt time.Time
	subscribed  bool
	conn        *wsConn   // the connection notifications go to
	old         *wsConn   // the previous one, during a reconnect
	reconnectID string    // pending reconnect, "" when none
	lastNote    []byte    // the last notification sent (resent on the new connection at a reconnect)
	started     time.Time // wall clock at connect, for the subscribe deadline
	host        string    // the Host the client dialled (the reconnect URL's)
	tls         bool
	// sendMu orders a session's messages: held while one is written, and across the switch
	// to a reconnect's new connection and its welcome, so each message goes to exactly the
	// connection that is current when it is written.
	sendMu sync.Mutex
}

// wsConn is one WebSocket connection. Writes are serialised by wmu.
type wsConn struct {
	c           *websocket.Conn
	done        chan struct{} // closed when the handler is done with it
	wmu         sync.Mutex
	lastWrite   time.Time
	silenced    bool      // SilenceWSSession: nothing more is written (a dead network)
	reconnectAt time.Time // when session_reconnect was written on it (or, new, when it connected)

	closeOnce sync.Once
	closeCh   chan struct{} // closed by requestClose; serveWS closes the connection
	code      int           // the code the simulator closes it with
	reason    string
}

func (s *Sim) wsSecond() time.Duration {
	if s.cfg.WSSecond > 0 {
		return s.cfg.WSSecond
	}
	return time.Second
}

func (s *Sim) wsUnits(n int) time.Duration { return time.Duration(n) * s.wsSecond() }

// clampKeepalive applies Twitch's 10-600 s range to keepalive_timeout_seconds.
func clampKeepalive(q string) int {
	if q == "" {
		return eventsub.WebSocketDefaultKeepaliveSeconds
	}
	n, err := strconv.Atoi(q)
	if err != nil {
		return eventsub.WebSocketDefaultKeepaliveSeconds
	}
	return min(max(n, eventsub.WebSocketMinKeepaliveSeconds), eventsub.WebSocketMaxKeepaliveSeconds)
}

// handleWS serves GET /ws: a new session, or with reconnect_id the new connection of one.
func (s *Sim) handleWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(wsReadLimit)
	conn := &wsConn{c: c, done: make(chan struct{}), closeCh: make(chan struct{})}
	defer close(conn.done)

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "simulator closed")
		return
	}
	s.wg.Add(1) // Close waits for the connection (hijacked: net/http does not)
	defer s.wg.Done()
	var sess *wsSession
	reconnectID := r.URL.Query().Get("reconnect_id")
	if reconnectID != "" {
		sid, ok := s.ws.reconnects[reconnectID]
		delete(s.ws.reconnects, reconnectID)
		if sess = s.ws.sessions[sid]; !ok || sess == nil || sess.reconnectID != reconnectID {
			s.mu.Unlock()
			c.Close(eventsub.CloseInvalidReconnect, "invalid reconnect")
			return
		}
		s.mu.Unlock()
		sess.sendMu.Lock() // no message is written while the session switches connections
		s.mu.Lock()
		if s.ws.sessions[sid] != sess { // it ended meanwhile
			s.mu.Unlock()
			sess.sendMu.Unlock()
			c.Close(eventsub.CloseInvalidReconnect, "invalid reconnect")
			return
		}
		sess.reconnectID = ""
		sess.old, sess.conn = sess.conn, conn
	} else {
		sess = &wsSession{id: newUUID(), keepalive: clampKeepalive(r.URL.Query().Get("keepalive_timeout_seconds")),
			connectedAt: s.now().UTC(), conn: conn, started: time.Now(), host: r.Host, tls: r.TLS != nil}
		s.ws.sessions[sess.id] = sess
	}
	welcome := s.wsFrame(eventsub.MessageTypeWelcome, "", "", eventsub.WSPayload{Session: &eventsub.WSSession{
		ID: sess.id, Status: "connected", KeepaliveTimeoutSeconds: &sess.keepalive, ConnectedAt: sess.connectedAt}})
	resend := sess.lastNote
	if reconnectID == "" {
		resend = nil
	}
	keepalive := s.wsUnits(sess.keepalive)
	s.notifyChanged()
	s.mu.Unlock()
	s.log.Info("websocket connected", "ws_session", sess.id, "reconnect", reconnectID != "", "keepalive_s", sess.keepalive)

	err = conn.write(s.ctx, welcome)
	if err == nil && resend != nil { // in flight at the switch: it may arrive twice, as on Twitch
		_ = conn.write(s.ctx, resend)
	}
	if reconnectID != "" {
		sess.sendMu.Unlock()
	}
	if err != nil {
		s.wsEnded(sess, conn, eventsub.CloseNetworkError)
		return
	}
	s.serveWS(sess, conn, keepalive)
}

// serveWS runs one connection until it ends: reads (any message is refused with 4001),
// keepalives, pings, the subscribe deadline.
func (s *Sim) serveWS(sess *wsSession, conn *wsConn, keepalive time.Duration) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	readDone := make(chan error, 1)
	wg.Go(func() {
		_, _, err := conn.c.Read(ctx)
		if err == nil {
			err = errInbound
		}
		readDone <- err
	})
	pingFailed := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(s.wsUnits(wsPingEvery))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, max(s.wsUnits(wsPingTimeout), wsPingTimeoutMin))
			err := conn.c.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				close(pingFailed)
				return
			}
		}
	})
	tick := time.NewTicker(max(keepalive/wsTick, wsMinTick))
	defer tick.Stop()
	code := 0
	for code == 0 {
		select {
		case <-ctx.Done():
			code = -1
		case err := <-readDone:
			if errors.Is(err, errInbound) {
				code = eventsub.CloseInboundTraffic
			} else {
				code = int(websocket.CloseStatus(err)) // -1: the connection dropped
			}
		case <-conn.closeCh:
			code = conn.code
		case <-pingFailed:
			code = eventsub.CloseFailedPingPong
		case <-tick.C:
			code = s.wsCheck(sess, conn, keepalive)
		}
	}
	switch code {
	case -1:
		if s.ctx.Err() != nil {
			conn.c.Close(websocket.StatusGoingAway, "simulator closed")
		}
	case eventsub.CloseInboundTraffic:
		conn.c.Close(websocket.StatusCode(code), "sent inbound traffic")
	case eventsub.CloseFailedPingPong:
		conn.c.Close(websocket.StatusCode(code), "failed ping pong")
	default:
		if conn.requested() {
			conn.c.Close(websocket.StatusCode(conn.code), conn.reason)
		}
	}
	cancel()
	conn.c.CloseNow()
	s.wsEnded(sess, conn, code)
}

var errInbound = errors.New("twitchsim: client sent a message")

// wsCheck is one periodic check of a connection: the 4003 deadline, the reconnect grace,
// a keepalive when due. It returns a close code when the connection must end.
func (s *Sim) wsCheck(sess *wsSession, conn *wsConn, keepalive time.Duration) int {
	now := time.Now()
	s.mu.Lock()
	current, unused := sess.conn == conn, !sess.subscribed && now.Sub(sess.started) >= keepalive
	var graceEnded bool
	if sess.old == conn || (current && sess.reconnectID != "") {
		graceEnded = now.Sub(conn.reconnectSince()) >= s.wsUnits(wsReconnectGrace)
	}
	s.mu.Unlock()
	switch {
	case unused && current:
		conn.requestClose(eventsub.CloseConnectionUnused, "connection unused")
	case graceEnded && current: // session_reconnect was never followed
		conn.requestClose(eventsub.CloseReconnectGraceEnded, "reconnect grace time expired")
	case graceEnded:
		conn.requestClose(int(websocket.StatusNormalClosure), "reconnected elsewhere")
	}
	if conn.requested() {
		return conn.code
	}
	if conn.idleFor(now) >= keepalive/2 {
		ka := s.wsFrame(eventsub.MessageTypeKeepalive, "", "", eventsub.WSPayload{})
		if err := conn.write(s.ctx, ka); err != nil && !conn.isSilenced() {
			return eventsub.CloseNetworkError
		}
	}
	return 0
}

// wsEnded forgets a connection that ended. The current connection of a session ending
// ends the session: its subscriptions are disabled with the status of code, never
// delivered to again (no replay). The old connection of a reconnect just goes.
func (s *Sim) wsEnded(sess *wsSession, conn *wsConn, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.old == conn {
		sess.old = nil
		s.notifyChanged()
		return
	}
	if sess.conn != conn || s.ws.sessions[sess.id] != sess {
		return
	}
	delete(s.ws.sessions, sess.id)
	if sess.reconnectID != "" {
		delete(s.ws.reconnects, sess.reconnectID)
	}
	status := eventsub.CloseStatus(code)
	now := s.now()
	for _, id := range s.ws.order {
		sb := s.ws.subs[id]
		if sb.Transport.SessionID == sess.id && sb.Status == eventsub.StatusEnabled {
			sb.Status, sb.disabledAt = status, now
		}
	}
	s.notifyChanged()
	s.log.Info("websocket session ended", "ws_session", sess.id, "code", code, "status", status)
}

// wsFrame encodes one message with a fresh message id.
func (s *Sim) wsFrame(typ, subType, subVersion string, p eventsub.WSPayload) []byte {
	b, _ := json.Marshal(eventsub.WSMessage{Metadata: eventsub.WSMetadata{MessageID: newUUID(), MessageType: typ,
		MessageTimestamp: s.now().UTC(), SubscriptionType: subType, SubscriptionVersion: subVersion}, Payload: p})
	return b
}

// reconnectURL is the URL a session_reconnect sends the client to: this listener's /ws.
func reconnectURL(host string, tls bool, id string) string {
	u := url.URL{Scheme: "ws", Host: host, Path: "/ws", RawQuery: url.Values{"reconnect_id": {id}}.Encode()}
	if tls {
		u.Scheme = "wss"
	}
	return u.String()
}

// write sends one frame unless the connection is silenced.
func (c *wsConn) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.silenced {
		return errSilenced
	}
	ctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	err := c.c.Write(ctx, websocket.MessageText, b)
	if err == nil {
		c.lastWrite = time.Now()
	}
	return err
}

var errSilenced = errors.New("twitchsim: connection silenced")

func (c *wsConn) idleFor(now time.Time) time.Duration {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return now.Sub(c.lastWrite)
}

func (c *wsConn) isSilenced() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.silenced
}

// reconnectSince is when session_reconnect was written on this connection.
func (c *wsConn) reconnectSince() time.Time {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.reconnectAt
}

// requestClose asks the connection's handler to close it with code, once.
func (c *wsConn) requestClose(code int, reason string) {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		c.code, c.reason = code, reason
		c.wmu.Unlock()
		close(c.closeCh)
	})
}

// requested reports whether requestClose was called.
func (c *wsConn) requested() bool {
	select {
	case <-c.closeCh:
		return true
	default:
		return false
	}
}

// markReconnect notes that session_reconnect is being sent on this connection.
func (c *wsConn) markReconnect() {
	c.wmu.Lock()
	c.reconnectAt = time.Now()
	c.wmu.Unlock()
}
