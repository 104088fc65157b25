package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// healthcheckTimeout bounds -healthcheck's probe.
const healthcheckTimeout = 3 * time.Second

// hooks lets tests learn where the server listens; nil in production.
type hooks struct {
	onListen func(baseURL string)
}

// run is the whole program: flags → config → logger → listener → the app (internal/app
// wires the rest) → serving until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, getenv, stdout, stderr, hooks{})
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := flag.NewFlagSet("twitchrelay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "run the demo: a simulated Twitch on localhost, no configuration needed")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probe := fs.Bool("healthcheck", false, "probe this service's /healthz on LISTEN_ADDR and exit 0 if healthy (for container HEALTHCHECK)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: twitchrelay [-demo] [-version] [-healthcheck]\n\nConfiguration comes from the environment; see README.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "demo" {
		*demo = true
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (try -demo)", fs.Arg(0))
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "twitchrelay", version)
		return nil
	case *probe:
		return healthcheck(ctx, getenv("LISTEN_ADDR"))
	}

	var cfg *config.Config
	var err error
	if *demo {
		cfg, err = config.Demo(getenv)
	} else {
		cfg, err = realConfig(getenv)
	}
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	slog.SetDefault(logger) // what libraries write with package log comes out structured too
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	a, err := app.New(ctx, cfg, logger, ln, app.Options{Version: version})
	if err != nil {
		return err
	}
	if cfg.Demo {
		fmt.Fprintf(stdout, "\n  twitchrelay demo is running: open %s\n  (Twitch is simulated; press Ctrl-C to stop)\n\n", a.PublicURL())
	}
	if h.onListen != nil {
		h.onListen("http://" + ln.Addr().String())
	}
	return a.Serve(ctx)
}

// realConfig loads the environment and refuses the simulator's credentials: nobody should
// deploy the demo by accident.
func realConfig(getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if cfg.TwitchClientID == twitchsim.DefaultClientID || cfg.TwitchSecret == twitchsim.DefaultClientSecret {
		return nil, errors.New("config: TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET are the demo simulator's; register an app at dev.twitch.tv, or run with -demo")
	}
	return cfg, nil
}

// healthcheck is the container's self-probe: the final image has no shell or curl.
func healthcheck(ctx context.Context, listen string) error {
	if listen == "" {
		listen = config.DefaultListenAddr
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("healthcheck: LISTEN_ADDR %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
