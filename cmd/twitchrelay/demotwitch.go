package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// startDemoTwitch runs the Twitch simulator on a loopback port, points cfg at it, registers
// the relay's redirect URI and starts the activity generator. The returned func stops it.
func startDemoTwitch(ctx context.Context, cfg *config.Config, relayAddr *net.TCPAddr, log *slog.Logger) (*twitchsim.Sim, func(), error) {
	host := relayAddr.IP.String()
	if relayAddr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	cfg.PublicURL = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, fmt.Sprint(relayAddr.Port))}
	sim := twitchsim.New(twitchsim.Config{
		RedirectURIs:           []string{cfg.PublicURL.String() + "/auth"},
		AllowInsecureCallbacks: true,
		Logger:                 log.With("component", "twitchsim"),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, nil, fmt.Errorf("demo: listen for the Twitch simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo: twitch simulator stopped", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	cfg.TwitchOAuthURL, cfg.TwitchHelixURL = base+"/id/oauth2", base+"/helix"
	actx, cancel := context.WithCancel(ctx)
	sim.StartActivity(actx, demoActivityEvery)
	log.Info("demo: simulated Twitch", "url", base)
	return sim, func() {
		cancel()
		sim.Close()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}, nil
}

// demoSuggestions are the simulated streamers, offered on the streamer form.
func demoSuggestions(sim *twitchsim.Sim) []string {
	var out []string
	for _, u := range sim.Users() {
		if u.BroadcasterType != "" {
			out = append(out, u.Login)
		}
	}
	return out
}
