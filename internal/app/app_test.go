package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
)

// TestMain fails the package if a test leaves a goroutine behind (leaktest ignores only
// scs's default-store goroutine; see there why).
func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

// wait bounds every wait in these tests.
const wait = 20 * time.Second

// demoApp wires the demo on a loopback port: the relay in memory mode against the simulator
// that New starts.
func demoApp(t *testing.T, logs io.Writer) (*app.App, net.Listener) {
	t.Helper()
	return demoAppWith(t, logs, "webhook")
}

// demoAppWith is demoApp with EVENTSUB_TRANSPORT=transport.
func demoAppWith(t *testing.T, logs io.Writer, transport string) (*app.App, net.Listener) {
	t.Helper()
	env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "EVENTSUB_TRANSPORT": transport}
	cfg, err := config.Demo(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(t.Context(), cfg, log, ln, app.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return a, ln
}

// served is a.Serve running in the background, as cmd/twitchrelay runs it.
type served struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// serve starts a.Serve; the test's cleanup cancels it and waits.
func serve(t *testing.T, a *app.App) *served {
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, cancel: cancel, done: make(chan struct{})}
	go func() { s.err = a.Serve(ctx); close(s.done) }()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// wait returns Serve's error once it has returned.
func (s *served) wait() error {
	s.t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(wait):
		s.t.Fatalf("Serve did not return within %v", wait)
		return nil
	}
}

// stop is SIGTERM: it cancels Serve's context and returns Serve's error.
func (s *served) stop() error {
	s.t.Helper()
	s.cancel()
	return s.wait()
}

// TestDemoRunsAndStopsEverything is a person's visit to the demo, then SIGTERM: the relay
// subscribes the streamer at the simulator New started, and after cancel Serve returns, the
// socket was told "going away", and no goroutine of the relay, the hub, the web server, the
// session sweep or the simulator is left.
func TestDemoRunsAndStopsEverything(t *testing.T) {
	for _, transport := range []string{"webhook", "websocket"} {
		t.Run(transport, func(t *testing.T) { demoRunsAndStops(t, transport) })
	}
}

func demoRunsAndStops(t *testing.T, transport string) {
	var logs syncbuf.Buffer
	a, ln := demoAppWith(t, &logs, transport)
	srv := serve(t, a)

	url := a.PublicURL().String()
	if want := "http://" + ln.Addr().String(); url != want {
		t.Errorf("PublicURL = %s, want the listener's address %s", url, want)
	}
	b := client.NewBrowser(url, ln.Addr().String())
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	status, body, err := b.Get("/enter_streamer")
	if err != nil || status != http.StatusOK || !strings.Contains(body, `value="pixelpaladin"`) {
		t.Fatalf("streamer form = %d %v, want the simulated streamers offered:\n%.500s", status, err, body)
	}
	if status, body, err := b.ChooseStreamer("pixelpaladin"); err != nil || status != http.StatusOK {
		t.Fatalf("choose pixelpaladin = %d %v\n%.300s", status, err, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.WaitFeeds(ctx, func(f map[string]client.Feed) bool {
		return f["stream_changed"].Status == "active" && f["user_changed"].Status == "active"
	}); err != nil {
		t.Fatalf("feeds never became active at the simulator: %v\n%s", err, logs.String())
	}
	if ws := strings.Contains(logs.String(), "eventsub websocket subscription created"); ws != (transport == "websocket") {
		t.Errorf("%s demo: websocket subscriptions made = %v", transport, ws)
	}

	if err := srv.stop(); err != nil {
		t.Fatalf("Serve = %v, want nil after cancel", err)
	}
	for err == nil {
		_, err = s.Next(ctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("socket ended with %v, want 1001 going away", err)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean shutdown in the logs:\n%s", logs.String())
	}
	b.Client.CloseIdleConnections()
	leaktest.VerifyNone(t)
}

// TestServeStopsEverythingWhenAPartFails: the main listener fails, so Serve shuts the rest
// down (the simulator included) and returns that error without being cancelled.
func TestServeStopsEverythingWhenAPartFails(t *testing.T) {
	a, ln := demoApp(t, io.Discard)
	ln.Close()
	err := serve(t, a).wait()
	if err == nil || !strings.HasPrefix(err.Error(), "serve: ") || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want serve: ... use of closed network connection", err)
	}
	leaktest.VerifyNone(t)
}

// TestNewReleasesWhatItOpenedOnError: New fails on a taken METRICS_ADDR, and closes the
// listener it was given and the simulator it started.
func TestNewReleasesWhatItOpenedOnError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, err := config.Demo(func(k string) string { return map[string]string{"LISTEN_ADDR": "127.0.0.1:0"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.MetricsAddr = taken.Addr().String()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(t.Context(), cfg, slog.New(slog.DiscardHandler), ln, app.Options{})
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("New = %v, want an error naming METRICS_ADDR", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener after a failed New: Accept = %v, want net.ErrClosed", err)
	}
	if cfg.PublicURL != nil || cfg.TwitchOAuthURL != "" {
		t.Errorf("New changed the caller's config: PUBLIC_URL %v, TWITCH_OAUTH_URL %q", cfg.PublicURL, cfg.TwitchOAuthURL)
	}
	leaktest.VerifyNone(t)
}
