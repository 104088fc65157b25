package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// demoTwitch is -demo's Twitch: the simulator on a loopback port of its own.
type demoTwitch struct {
	sim  *twitchsim.Sim
	http *httpServer
}

// newDemoTwitch starts listening for the simulator and points cfg at it: its credentials,
// its OAuth and Helix URLs, and PUBLIC_URL from the relay's own listener (registered as the
// simulator's redirect URI). Serve serves it.
func newDemoTwitch(cfg *config.Config, relayAddr net.Addr, log *slog.Logger) (*demoTwitch, error) {
	host, port, err := net.SplitHostPort(relayAddr.String())
	if err != nil {
		return nil, fmt.Errorf("demo: relay address %s: %w", relayAddr, err)
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	cfg.PublicURL = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen for the Twitch simulator: %w", err)
	}
	sim := twitchsim.New(twitchsim.Config{
		RedirectURIs:           []string{cfg.PublicURL.String() + "/auth"},
		AllowInsecureCallbacks: true,
		Logger:                 log, // the simulator adds component=twitchsim
	})
	base := "http://" + ln.Addr().String()
	cfg.TwitchClientID, cfg.TwitchSecret = sim.ClientID(), sim.ClientSecret()
	cfg.TwitchOAuthURL, cfg.TwitchHelixURL = base+"/id/oauth2", base+"/helix"
	cfg.TwitchEventSubWS = "ws://" + ln.Addr().String() + "/ws"
	log.Info("demo: simulated Twitch", "url", base)
	return &demoTwitch{sim: sim, http: newHTTPServer("demo: twitch simulator", ln, sim, log)}, nil
}

// close releases what newDemoTwitch opened (for when Serve never ran; idempotent).
func (d *demoTwitch) close() {
	d.sim.Close()
	d.http.ln.Close()
}

// suggestions are the simulated streamers, offered on the streamer form.
func (d *demoTwitch) suggestions() []string {
	var out []string
	for _, u := range d.sim.Users() {
		if u.BroadcasterType != "" || u.Channel.Title != "" { // partners, affiliates and anyone who streams
			out = append(out, u.Login)
		}
	}
	return out
}
