package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/config"
)

// serve listens, starts the demo's simulated Twitch when asked, and runs the app until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, h hooks) error {
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	defer ln.Close()
	var opt app.Options
	opt.Version = version
	if cfg.Demo {
		sim, stop, err := startDemoTwitch(ctx, cfg, ln.Addr().(*net.TCPAddr), log)
		if err != nil {
			return err
		}
		defer stop()
		opt.Suggestions = demoSuggestions(sim)
		if h.onDemo != nil {
			h.onDemo(sim)
		}
	}
	a, err := app.New(ctx, cfg, log, opt)
	if err != nil {
		return err
	}
	if cfg.Demo {
		fmt.Fprintf(stdout, "\n  twitchrelay demo is running: open %s\n  (Twitch is simulated; press Ctrl-C to stop)\n\n", cfg.PublicURL)
	}
	if h.onListen != nil {
		h.onListen("http://" + ln.Addr().String())
	}
	return a.Serve(ctx, ln)
}
