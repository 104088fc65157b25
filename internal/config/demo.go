package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
)

// realOnly are the variables of a real deployment; -demo refuses them.
var realOnly = []string{"TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "TWITCH_CLIENT_SECRET_FILE", "PUBLIC_URL", "REDIS_URL", "REDIS_URL_FILE"}

// Demo is the configuration of -demo: loopback only, in-memory sessions, a random server
// secret, short leases. Twitch is the simulator the wiring starts: its credentials and URLs,
// and PUBLIC_URL (from the listener), are filled in there. Demo refuses a real deployment's
// variables so that a real deployment never runs as a demo; it reads only LISTEN_ADDR, EVENTSUB_TRANSPORT,
// LOG_FORMAT and LOG_LEVEL.
func Demo(getenv Getenv) (*Config, error) {
	var set []string
	for _, name := range realOnly {
		if getenv(name) != "" {
			set = append(set, name)
		}
	}
	if len(set) > 0 {
		return nil, errors.New("demo mode uses a simulated Twitch and in-memory sessions; unset " + strings.Join(set, ", ") + " or run without -demo")
	}
	var secret [32]byte
	rand.Read(secret[:]) // never fails (crypto/rand, Go ≥ 1.24)
	p := &parser{getenv: getenv}
	c := &Config{
		Demo:              true,
		ListenAddr:        p.str("LISTEN_ADDR", DemoListenAddr),
		ServerSecret:      hex.EncodeToString(secret[:]), // 64 characters
		SubscriptionLease: DemoSubscriptionLease,
		FollowingPoll:     DemoFollowingPoll,
		HistorySize:       DefaultHistorySize,
		HistoryBytes:      DefaultHistoryBytes,
		HistoryAge:        DefaultHistoryAge,
		StreamerChanges:   DefaultStreamerChanges,
		StreamersPerUser:  DefaultStreamersPerUser,
		EventSubTransport: p.transport(), // the demo works in both; webhook unless EVENTSUB_TRANSPORT=websocket
		LogFormat:         p.oneOf("LOG_FORMAT", DemoLogFormat, "text", "json"),
		LogLevel:          p.logLevel(),
		ShutdownTimeout:   DemoShutdownTimeout,
		CallbackReads:     DefaultCallbackReads,
		SocketsPerSession: DefaultSocketsPerSession,
		SocketsPerIP:      DefaultSocketsPerIP,
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}
