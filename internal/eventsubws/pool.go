package eventsubws

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Pool keeps one Client per Twitch user: the user's WebSocket session, shared by all of
// that user's relay sessions and tabs (Twitch allows 3 connections per user token; one is
// enough). A user's Client starts at the first Session call and runs until Close(user) or
// Shutdown. Every Client goroutine is the Pool's, awaited by Shutdown.
type Pool struct {
	cfg PoolConfig

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	users    map[string]*poolEntry
	stopping bool
}

// PoolConfig configures a Pool. Message and Lost receive each user's messages and losses.
type PoolConfig struct {
	URL              string
	KeepaliveSeconds int
	Second           time.Duration
	HTTPClient       *http.Client
	Logger           *slog.Logger
	Message          func(userID string, msg *webhook.Message)
	Lost             func(userID string, l Loss)
}

type poolEntry struct {
	c      *Client
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPool returns an empty Pool.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{cfg: cfg, users: map[string]*poolEntry{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// Session returns the id of userID's connected Twitch session, connecting one if there is
// none, and waiting (within ctx) for its welcome.
func (p *Pool) Session(ctx context.Context, userID string) (string, error) {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return "", ErrStopped
	}
	e := p.users[userID]
	if e == nil {
		e = p.startLocked(userID)
	}
	p.mu.Unlock()
	return e.c.SessionID(ctx)
}

func (p *Pool) startLocked(userID string) *poolEntry {
	log := p.cfg.Logger.With("user_id", userID)
	h := Handler{}
	if p.cfg.Message != nil {
		h.Message = func(m *webhook.Message) { p.cfg.Message(userID, m) }
	}
	if p.cfg.Lost != nil {
		h.Lost = func(l Loss) { p.cfg.Lost(userID, l) }
	}
	c := New(Config{URL: p.cfg.URL, KeepaliveSeconds: p.cfg.KeepaliveSeconds, Second: p.cfg.Second,
		HTTPClient: p.cfg.HTTPClient, Logger: log}, h)
	ctx, cancel := context.WithCancel(p.ctx)
	e := &poolEntry{c: c, cancel: cancel, done: make(chan struct{})}
	p.users[userID] = e
	p.wg.Go(func() {
		defer close(e.done)
		_ = c.Run(ctx)
	})
	return e
}

// Close disconnects userID's session (nobody of that user needs it any more) without
// waiting: the next Session of that user connects a new one. Shutdown waits for the Client.
func (p *Pool) Close(userID string) {
	p.mu.Lock()
	e := p.users[userID]
	delete(p.users, userID)
	p.mu.Unlock()
	if e != nil {
		e.cancel()
	}
}

// Users is how many users have a Client (a metric, and what tests wait on).
func (p *Pool) Users() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.users)
}

// Shutdown disconnects every session and waits for every Client, within ctx.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
