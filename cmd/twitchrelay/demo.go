package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/config"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Demo defaults: everything on this machine, nothing to configure.
const (
	demoListenAddr    = "127.0.0.1:8080"
	demoActivityEvery = 2 * time.Second // spread over 4 streamers: one event every ~8 s each
	demoLease         = 120 * time.Second
	demoFollowingPoll = 10 * time.Second
)

// demoConfig is the configuration of -demo: the simulator's credentials, in-memory sessions,
// loopback only. It refuses real credentials so that a real deployment never runs as a demo.
func demoConfig(getenv func(string) string) (*config.Config, error) {
	var problems []string
	for _, name := range []string{"TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "TWITCH_CLIENT_SECRET_FILE", "PUBLIC_URL", "REDIS_URL", "REDIS_URL_FILE"} {
		if getenv(name) != "" {
			problems = append(problems, name)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("demo mode uses a simulated Twitch and in-memory sessions; unset " + strings.Join(problems, ", ") + " or run without -demo")
	}
	listen := getenv("LISTEN_ADDR")
	if listen == "" {
		listen = demoListenAddr
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	format := getenv("LOG_FORMAT")
	if format == "" {
		format = "text"
	}
	return &config.Config{
		Demo:              true,
		ListenAddr:        listen,
		PublicURL:         &url.URL{Scheme: "http", Host: listen}, // fixed up once the port is known
		TwitchClientID:    twitchsim.DefaultClientID,
		TwitchSecret:      twitchsim.DefaultClientSecret,
		ServerSecret:      hex.EncodeToString(secret),
		SubscriptionLease: demoLease,
		FollowingPoll:     demoFollowingPoll,
		HistorySize:       config.DefaultHistorySize,
		HistoryAge:        config.DefaultHistoryAge,
		LogFormat:         format,
		LogLevel:          "info",
		ShutdownTimeout:   5 * time.Second,
	}, nil
}
