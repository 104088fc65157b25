// Package eventsubws is twitchrelay's client of Twitch's EventSub WebSocket transport
// (docs/TWITCH.md §7): one Client per Twitch user keeps that user's session connected. It
// dials, takes the welcome, watches the keepalive timeout, follows session_reconnect (the
// new URL dialled unchanged, the old connection kept until the new welcome, messages
// de-duplicated by id across the two), answers Pings (the library does, while reading) and
// sends nothing else. Notifications and revocations become webhook.Messages, the same shape
// a verified webhook has, for the same relay path. A plain disconnect (any close code, a
// silent connection, a failed dial) ends the session: Twitch replays nothing and disables its
// subscriptions, so the Handler is told (Lost) and a new session is dialled.
package eventsubws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// DefaultURL is Twitch's EventSub WebSocket server.
const DefaultURL = "wss://eventsub.wss.twitch.tv/ws"

// Limits and timings, in one place. Durations in "seconds" are Config.Second each.
const (
	welcomeWait   = 10 // seconds a new connection may take to say welcome
	dialTimeout   = 15 * time.Second
	readLimit     = 512 << 10 // bytes of one Twitch message (notifications are a few KiB)
	dedupeSize    = 1024      // message ids remembered across connections
	backoffFirst  = 1         // seconds before redialling after a loss, doubling,
	backoffMax    = 30        // up to this
	frameBuffer   = 1024      // frames read ahead per connection: the reader keeps reading (and so answering Pings) while a reconnect drains the old connection
	closeReasonOK = "reconnected"
	// oldQuiet: after the new connection's welcome, the previous one is read until it has
	// been quiet this long (or ends), before anything of the new one: what Twitch wrote to it
	// before the switch is delivered first, in order. Only then is it closed (a closing
	// connection's data frames are not read any more). The new connection's welcome took a
	// new TCP and WebSocket handshake after the last of those frames was written, so they
	// have arrived by then; the quiet time is only for reading them.
	oldQuiet = 250 * time.Millisecond
)

// CodeKeepaliveTimeout is Loss.Code when Twitch sent nothing for longer than the keepalive
// timeout (no close frame: the relay closed the silent connection itself).
const CodeKeepaliveTimeout = -1

// CodeDialFailed is Loss.Code when no connection could be made or no welcome came.
const CodeDialFailed = -2

// Loss is a session that ended without a reconnect: its subscriptions are gone, and
// nothing between Since and At will ever be delivered.
type Loss struct {
	SessionID string
	Code      int       // Twitch's close code (4000-4007), 1006 for a dropped connection, or Code* above
	Since     time.Time // when the last message of the session arrived
	At        time.Time // when the loss was noticed
}

// Handler receives what a Client reads. Calls come from the Client's goroutine, one at a
// time, in order; they must not block for long.
type Handler struct {
	// Welcome: a new session is connected; subscribe on it (within the keepalive timeout).
	Welcome func(sessionID string)
	// Message: a notification or revocation, each message id once.
	Message func(msg *webhook.Message)
	// Lost: the session ended without a reconnect.
	Lost func(l Loss)
}

// Config configures a Client.
type Config struct {
	URL              string        // DefaultURL if empty
	KeepaliveSeconds int           // keepalive_timeout_seconds to ask for; 0 = Twitch's default (10)
	Second           time.Duration // Twitch's second (tests: the simulator's WSSecond); 0 = time.Second
	HTTPClient       *http.Client  // for the dial; nil = http.DefaultClient
	Logger           *slog.Logger
	Now              func() time.Time
	// Once makes Run return after the first session is lost instead of dialling again.
	Once bool
}

// Client keeps one Twitch WebSocket session connected. Create it with New; Run it.
type Client struct {
	cfg Config
	h   Handler
	log *slog.Logger

	mu      sync.Mutex
	session string        // the welcomed session id, "" while there is none
	ready   chan struct{} // closed when session becomes non-empty; replaced when it is lost
	stopped bool

	seen  map[string]struct{}
	order []string
}

// New returns a Client; nothing is dialled until Run.
func New(cfg Config, h Handler) *Client {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Second <= 0 {
		cfg.Second = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, h: h, log: cfg.Logger, ready: make(chan struct{}), seen: map[string]struct{}{}}
}

// ErrStopped: the Client's Run has returned.
var ErrStopped = errors.New("eventsubws: client stopped")

// SessionID waits for a welcomed session and returns its id.
func (c *Client) SessionID(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		id, ready, stopped := c.session, c.ready, c.stopped
		c.mu.Unlock()
		switch {
		case id != "":
			return id, nil
		case stopped:
			return "", ErrStopped
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return "", fmt.Errorf("eventsubws: waiting for a Twitch session: %w", ctx.Err())
		}
	}
}

func (c *Client) setSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case id != "" && c.session == "":
		c.session = id
		close(c.ready)
	case id == "" && c.session != "":
		c.session = ""
		c.ready = make(chan struct{})
	}
}

func (c *Client) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.session == "" {
		close(c.ready)
	}
	c.session = ""
}

func (c *Client) sec(n int) time.Duration { return time.Duration(n) * c.cfg.Second }

// Run keeps a session connected until ctx ends (or, with Once, the first loss). After a
// loss it waits (1, 2, 4... up to 30 seconds; reset by a welcome) and dials a new session.
func (c *Client) Run(ctx context.Context) error {
	defer c.stop()
	backoff := backoffFirst
	for {
		welcomed, loss := c.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.setSession("")
		c.log.Info("twitch websocket session lost", "ws_session", loss.SessionID, "code", loss.Code)
		if c.h.Lost != nil {
			c.h.Lost(loss)
		}
		if c.cfg.Once {
			return nil
		}
		if welcomed {
			backoff = backoffFirst
		}
		t := time.NewTimer(c.sec(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// conn is one WebSocket connection and its reader.
type conn struct {
	ws     *websocket.Conn
	frames chan []byte // closed when the reader ends
	err    error       // the read error, once frames is closed
}

func (c *Client) dial(ctx context.Context, u string) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(readLimit)
	return &conn{ws: ws, frames: make(chan []byte, frameBuffer)}, nil
}

// read runs the connection's reader until it ends. Reading is also what answers Pings.
func (cn *conn) read(ctx context.Context) {
	defer close(cn.frames)
	for {
		_, b, err := cn.ws.Read(ctx)
		if err != nil {
			cn.err = err
			return
		}
		select {
		case cn.frames <- b:
		case <-ctx.Done():
			cn.err = ctx.Err()
			return
		}
	}
}

func (c *Client) firstURL() string {
	if c.cfg.KeepaliveSeconds <= 0 {
		return c.cfg.URL
	}
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return c.cfg.URL
	}
	q := u.Query()
	q.Set("keepalive_timeout_seconds", strconv.Itoa(c.cfg.KeepaliveSeconds))
	u.RawQuery = q.Encode()
	return u.String()
}

// runSession runs one session, through any number of reconnects, until it is lost.
func (c *Client) runSession(ctx context.Context) (welcomed bool, loss Loss) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(cn *conn) { wg.Go(func() { cn.read(ctx) }) }
	closeConn := func(cn *conn, code websocket.StatusCode, reason string) {
		wg.Go(func() { cn.ws.Close(code, reason) }) // waits (bounded by the library) for Twitch's close frame
	}

	loss = Loss{Since: c.cfg.Now()}
	cur, err := c.dial(ctx, c.firstURL())
	if err != nil {
		c.log.Warn("twitch websocket dial", "err", err)
		loss.Code, loss.At = CodeDialFailed, c.cfg.Now()
		return false, loss
	}
	defer func() { cur.ws.CloseNow() }()
	start(cur)

	var (
		next      *conn // dialled after session_reconnect, until its welcome
		old       *conn // the previous connection, until Twitch closes it
		keepalive = c.sec(welcomeWait)
		dialing   bool
		dialed    = make(chan *conn)
		draining  bool // old is read to its end before cur
		quiet     = time.NewTimer(oldQuiet)
	)
	quiet.Stop()
	defer quiet.Stop()
	defer func() {
		for _, cn := range []*conn{next, old} {
			if cn != nil {
				cn.ws.CloseNow()
			}
		}
	}()
	timer := time.NewTimer(keepalive)
	defer timer.Stop()
	lost := func(code int) (bool, Loss) {
		loss.Code, loss.At = code, c.cfg.Now()
		return welcomed, loss
	}
	endDrain := func() {
		draining = false
		quiet.Stop()
		if old != nil {
			closeConn(old, websocket.StatusNormalClosure, closeReasonOK)
		}
		timer.Reset(keepalive)
	}
	for {
		var nextFrames, oldFrames <-chan []byte
		curFrames := cur.frames
		if next != nil {
			nextFrames = next.frames
		}
		if old != nil {
			oldFrames = old.frames
		}
		if draining {
			curFrames = nil
		}
		select {
		case <-ctx.Done():
			closeConn(cur, websocket.StatusGoingAway, "shutting down")
			return welcomed, loss
		case <-timer.C:
			// Silence longer than the keepalive timeout (or no welcome in time): dead.
			closeConn(cur, websocket.StatusNormalClosure, "keepalive timeout")
			return lost(CodeKeepaliveTimeout)
		case cn := <-dialed:
			dialing = false
			if cn == nil { // the reconnect URL could not be dialled: Twitch will close us (4004)
				continue
			}
			next = cn
			start(next)
		case <-quiet.C:
			endDrain()
		case b, ok := <-curFrames:
			if !ok {
				code := int(websocket.CloseStatus(cur.err))
				if code == -1 {
					code = int(websocket.StatusAbnormalClosure)
				}
				return lost(code)
			}
			m, err := decode(b)
			if err != nil {
				c.log.Warn("twitch websocket: undecodable message", "err", err)
				continue
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(keepalive)
			loss.Since = c.cfg.Now()
			switch m.Metadata.MessageType {
			case eventsub.MessageTypeWelcome:
				if welcomed || m.Payload.Session == nil {
					continue
				}
				welcomed, loss.SessionID = true, m.Payload.Session.ID
				if ka := m.Payload.Session.KeepaliveTimeoutSeconds; ka != nil && *ka > 0 {
					keepalive = c.sec(*ka)
					timer.Reset(keepalive)
				}
				c.setSession(loss.SessionID)
				c.log.Info("twitch websocket session", "ws_session", loss.SessionID, "keepalive", keepalive)
				if c.h.Welcome != nil {
					c.h.Welcome(loss.SessionID)
				}
			case eventsub.MessageTypeReconnect:
				if next != nil || dialing || m.Payload.Session == nil || m.Payload.Session.ReconnectURL == nil {
					continue
				}
				dialing = true
				u := *m.Payload.Session.ReconnectURL // unchanged, as Twitch says
				c.log.Info("twitch websocket reconnect", "ws_session", loss.SessionID)
				wg.Go(func() {
					cn, err := c.dial(ctx, u)
					if err != nil {
						c.log.Warn("twitch websocket reconnect dial", "err", err)
					}
					select {
					case dialed <- cn:
					case <-ctx.Done():
						if cn != nil {
							cn.ws.CloseNow()
						}
					}
				})
			default:
				c.deliver(m)
			}
		case b, ok := <-nextFrames:
			if !ok {
				next = nil // the new connection failed before its welcome: keep the current one
				continue
			}
			m, err := decode(b)
			if err != nil {
				continue
			}
			if m.Metadata.MessageType != eventsub.MessageTypeWelcome {
				c.deliver(m) // before its welcome nothing else should come; de-duplicated anyway
				continue
			}
			// The new connection is the session now. What the old one still has is
			// delivered first (draining), then it is closed.
			if old != nil {
				old.ws.CloseNow()
			}
			old, cur, next = cur, next, nil
			draining = true
			quiet.Reset(oldQuiet)
			if ka := m.Payload.Session; ka != nil && ka.KeepaliveTimeoutSeconds != nil && *ka.KeepaliveTimeoutSeconds > 0 {
				keepalive = c.sec(*ka.KeepaliveTimeoutSeconds)
			}
			timer.Reset(keepalive)
			loss.Since = c.cfg.Now()
			c.log.Info("twitch websocket reconnected", "ws_session", loss.SessionID)
		case b, ok := <-oldFrames:
			if !ok {
				old = nil
				if draining {
					endDrain()
				}
				continue
			}
			if draining {
				quiet.Reset(oldQuiet)
			}
			if m, err := decode(b); err == nil && (m.Metadata.MessageType == eventsub.MessageTypeNotification ||
				m.Metadata.MessageType == eventsub.MessageTypeRevocation) {
				c.deliver(m)
			}
		}
	}
}

func decode(b []byte) (eventsub.WSMessage, error) {
	var m eventsub.WSMessage
	err := json.Unmarshal(b, &m)
	return m, err
}

// deliver hands a notification or revocation to the Handler, each message id once.
func (c *Client) deliver(m eventsub.WSMessage) {
	typ := m.Metadata.MessageType
	if typ != eventsub.MessageTypeNotification && typ != eventsub.MessageTypeRevocation {
		return
	}
	if m.Payload.Subscription == nil || m.Metadata.MessageID == "" {
		c.log.Warn("twitch websocket: message without subscription or id", "message_type", typ)
		return
	}
	id := m.Metadata.MessageID
	if _, dup := c.seen[id]; dup {
		c.log.Debug("twitch websocket: duplicate message", "message_id", id)
		return
	}
	c.seen[id] = struct{}{}
	c.order = append(c.order, id)
	if len(c.order) > dedupeSize {
		delete(c.seen, c.order[0])
		c.order = c.order[1:]
	}
	if c.h.Message == nil {
		return
	}
	c.h.Message(&webhook.Message{
		ID: id, Type: typ, Timestamp: m.Metadata.MessageTimestamp,
		SubscriptionType: m.Metadata.SubscriptionType, SubscriptionVersion: m.Metadata.SubscriptionVersion,
		Subscription: *m.Payload.Subscription, Event: m.Payload.Event,
	})
}
