package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/twitchrelay/twitchrelay/internal/config"
)

// Serve reconciles subscriptions and serves until ctx is done or a part fails, then shuts
// down in order: stop taking requests, tell every socket "going away", settle subscriptions
// (Twitch, or the demo's simulator, still answers), stop the simulator, close the stores.
// Every goroutine Serve starts is in one errgroup, and Serve returns only after all of them
// have: the first error of any of them is its error.
func (a *App) Serve(ctx context.Context) error {
	defer a.Close()
	cfg, log := a.cfg, a.log
	g, gctx := errgroup.WithContext(ctx) // gctx ends with ctx, or when a part fails
	if a.demo != nil {
		// Served until after the relay settled its subscriptions (the Shutdown below).
		g.Go(a.demo.http.serve)
		// The simulator owns the generator's goroutine; sim.Close below waits for it.
		a.demo.sim.StartActivity(gctx, config.DemoActivityEvery)
	}
	g.Go(func() error { a.Hub.Run(gctx); return nil })
	// The broker outlives gctx: the relay's shutdown still sends feed statuses through it.
	bctx, bcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bcancel()
	if a.broker != nil {
		g.Go(func() error { return a.broker.Run(bctx, a.Hub) })
	}
	g.Go(func() error { a.Relay.Run(gctx); return nil })
	g.Go(func() error { a.Web.RunValidator(gctx); return nil })
	if a.sessions != nil {
		g.Go(func() error { a.sessions.run(gctx, sessionSweepEvery); return nil })
	}
	a.reconcile(gctx)
	g.Go(a.http.serve)
	if a.metricsHTTP != nil {
		g.Go(a.metricsHTTP.serve)
		log.Info("metrics listening", "addr", a.metricsHTTP.ln.Addr().String())
	}
	log.Info("listening", "addr", a.http.ln.Addr().String(), "public_url", cfg.PublicURL.String())

	<-gctx.Done()
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer scancel()
	a.http.shutdown(sctx, log)
	if a.metricsHTTP != nil {
		a.metricsHTTP.shutdown(sctx, log)
	}
	a.Hub.Close()                            // hijacked sockets: Shutdown does not close them; "going away" makes clients reconnect
	if err := a.Web.Wait(sctx); err != nil { // their handlers, and the subscribes they started
		log.Warn("socket shutdown", "err", err)
	}
	if err := a.Relay.Shutdown(sctx, cfg.RedisURL != ""); err != nil {
		log.Warn("subscription shutdown", "err", err)
	}
	if err := a.TwitchWS.Shutdown(sctx); err != nil { // after the relay: its deletes used the sessions' tokens, not the sockets
		log.Warn("twitch websocket shutdown", "err", err)
	}
	bcancel()
	if a.demo != nil {
		a.demo.sim.Close() // stops the activity and the deliveries, and waits for them
		a.demo.http.shutdown(sctx, log)
	}
	err := g.Wait()
	log.Info("stopped")
	return err
}

// reconcile runs the start-up reconcile; with several instances, only while no other
// instance runs one (the "reconcile" lock, held at most reconcileTimeout plus a margin), and
// adopting only sessions no live instance claims (relay.Owners).
func (a *App) reconcile(ctx context.Context) {
	rctx, rcancel := context.WithTimeout(ctx, reconcileTimeout)
	defer rcancel()
	if a.locks != nil {
		lease, ok, err := a.locks.TryAcquire(rctx, "reconcile", reconcileTimeout+reconcileLockMargin)
		if err != nil || !ok {
			a.log.Info("start-up reconcile skipped: another instance is running one (or Redis is unreachable)", "err", err)
			return
		}
		defer lease.Release(context.WithoutCancel(ctx))
	}
	if err := a.Relay.Reconcile(rctx); err != nil {
		a.log.Warn("reconcile subscriptions at start-up", "err", err)
	}
}

// httpServer is an http.Server on its listener, with the shutdown every server here needs.
type httpServer struct {
	name  string // prefixes its errors: "serve", "metrics listener", "demo: twitch simulator"
	srv   *http.Server
	ln    net.Listener
	fresh newConns
}

func newHTTPServer(name string, ln net.Listener, h http.Handler, log *slog.Logger) *httpServer {
	s := &httpServer{name: name, ln: ln}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnState:         s.fresh.track,
	}
	return s
}

// serve serves until shutdown.
func (s *httpServer) serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// shutdown stops taking requests and waits for those in flight within ctx, then closes
// whatever is left. Shutdown alone would wait up to 5 s for each connection that never sent a
// request (a client's spare keep-alive dial); they hold nothing, so they are closed first,
// and any that still arrive are closed as they do.
func (s *httpServer) shutdown(ctx context.Context, log *slog.Logger) {
	s.fresh.closeAll()
	if err := s.srv.Shutdown(ctx); err != nil {
		log.Warn("http shutdown", "server", s.name, "err", err)
		s.srv.Close()
	}
}

// newConns tracks connections that have not sent a request yet, to close them at shutdown.
type newConns struct {
	mu      sync.Mutex
	m       map[net.Conn]struct{}
	closing bool
}

func (n *newConns) track(c net.Conn, st http.ConnState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st != http.StateNew {
		delete(n.m, c)
		return
	}
	if n.closing {
		c.Close()
		return
	}
	if n.m == nil {
		n.m = map[net.Conn]struct{}{}
	}
	n.m[c] = struct{}{}
}

// closeAll closes the connections that have not sent a request, and from now on every new
// one as it arrives.
func (n *newConns) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closing = true
	for c := range n.m {
		c.Close()
	}
	clear(n.m)
}
