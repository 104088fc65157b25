// Package config reads twitchrelay's configuration from the environment: typed, with the
// defaults in one place, every secret also readable from NAME_FILE, and every problem reported
// at once with the name of the variable.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults, in one place: of every variable Load reads, and of -demo (Demo). The packages
// the wiring configures have no defaults of their own for these.
const (
	DefaultListenAddr        = ":8080"
	DefaultTwitchOAuthURL    = "https://id.twitch.tv/oauth2"
	DefaultTwitchHelixURL    = "https://api.twitch.tv/helix"
	DefaultTwitchEventSubWS  = "wss://eventsub.wss.twitch.tv/ws"
	DefaultEventSubTransport = "webhook"          // or "websocket": no public https needed (docs/TWITCH.md §7)
	DefaultSubscriptionLease = 1000 * time.Second // the original design's "default subscription time"
	DefaultFollowingPoll     = 60 * time.Second   // Get Followed Channels costs a Helix point per poll
	DefaultHistorySize       = 10000              // most events kept per session for resume (a ceiling: bytes and age bound it first)
	DefaultHistoryBytes      = 1 << 20            // most bytes of event frames kept per session for resume
	DefaultHistoryAge        = 15 * time.Minute   // oldest event kept; idle time before a session is swept
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultLogLevel          = "info"
	DefaultRedisKeyPrefix    = "twitchrelay:"
	DefaultRedisPoolSize     = 16  // connections per Redis pool (sessions; tokens, state and dedupe)
	DefaultStreamerChanges   = 6   // streamer changes per minute, per session and per Twitch user
	DefaultStreamersPerUser  = 5   // distinct streamers one Twitch user's sessions may hold at once
	DefaultCallbackReads     = 256 // callback bodies read at once; Twitch sends a few at a time
	DefaultSocketsPerSession = 32  // open tabs of one login (TestManyTabs keeps 20 open)
	DefaultSocketsPerIP      = 64  // open sockets from one address (a household or office behind NAT)
	MinServerSecretLen       = 32

	// -demo: everything on this machine, nothing to configure.
	DemoListenAddr        = "127.0.0.1:8080"
	DemoSubscriptionLease = 120 * time.Second
	DemoFollowingPoll     = 10 * time.Second
	DemoShutdownTimeout   = 5 * time.Second
	DemoLogFormat         = "text"
	DemoActivityEvery     = 2 * time.Second // the simulator's events; over 4 streamers, one every ~8 s each
)

// Config is the whole configuration of one twitchrelay process.
type Config struct {
	ListenAddr        string        // LISTEN_ADDR
	MetricsAddr       string        // METRICS_ADDR: if set, /metrics is served there instead of on ListenAddr
	PublicURL         *url.URL      // PUBLIC_URL: the https URL users and Twitch reach (demo: set by the wiring from its listener)
	TwitchClientID    string        // TWITCH_CLIENT_ID
	TwitchSecret      string        // TWITCH_CLIENT_SECRET(_FILE)
	ServerSecret      string        // SERVER_SECRET(_FILE): derives webhook secrets, signs state
	RedisURL          string        // REDIS_URL(_FILE): optional; sessions and webhook state in Redis
	RedisKeyPrefix    string        // REDIS_KEY_PREFIX: prefix of every key, so deployments can share a Redis
	RedisPoolSize     int           // REDIS_POOL_SIZE: most connections of each Redis pool; requests wait for one
	StreamerChanges   int           // STREAMER_CHANGES_PER_MINUTE: per session and per Twitch user (burst and refill)
	StreamersPerUser  int           // STREAMERS_PER_USER: distinct streamers held at once across a user's sessions
	TwitchOAuthURL    string        // TWITCH_OAUTH_URL (demo: the simulator's, set by the wiring)
	TwitchHelixURL    string        // TWITCH_HELIX_URL (demo: the simulator's, set by the wiring)
	TwitchEventSubWS  string        // TWITCH_EVENTSUB_WS_URL: Twitch's EventSub WebSocket server (demo: the simulator's)
	EventSubTransport string        // EVENTSUB_TRANSPORT: webhook (Twitch calls PUBLIC_URL back) or websocket (we dial Twitch)
	SubscriptionLease time.Duration // SUBSCRIPTION_LEASE
	FollowingPoll     time.Duration // FOLLOWING_POLL_INTERVAL: how often "channels they follow" is polled
	HistorySize       int           // HISTORY_SIZE: most events kept per session for resume
	HistoryBytes      int           // HISTORY_BYTES: most bytes of event frames kept per session
	HistoryAge        time.Duration // HISTORY_AGE
	AllowedOrigins    []string      // ALLOWED_ORIGINS: extra WebSocket origins (host patterns)
	TrustedProxies    []netip.Prefix
	LogFormat         string        // LOG_FORMAT: text or json ("" = text on a terminal, json otherwise)
	LogLevel          string        // LOG_LEVEL: debug, info, warn, error
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT
	CallbackReads     int           // CALLBACK_MAX_READS: callback bodies read at once; more get 503 + Retry-After
	SocketsPerSession int           // WS_MAX_PER_SESSION: open sockets (tabs) of one relay session
	SocketsPerIP      int           // WS_MAX_PER_IP: open sockets from one client address
	Demo              bool          // set by -demo (Demo), never from the environment
}

// Secure reports whether cookies must be Secure (PUBLIC_URL is https).
func (c *Config) Secure() bool { return c.PublicURL != nil && c.PublicURL.Scheme == "https" }

// Getenv is os.Getenv's shape, so tests pass a map.
type Getenv func(string) string

// Load reads the configuration. All problems are joined into one error.
func Load(getenv Getenv) (*Config, error) {
	p := &parser{getenv: getenv}
	c := &Config{
		ListenAddr:        p.str("LISTEN_ADDR", DefaultListenAddr),
		MetricsAddr:       p.str("METRICS_ADDR", ""),
		TwitchClientID:    p.str("TWITCH_CLIENT_ID", ""),
		TwitchSecret:      p.secret("TWITCH_CLIENT_SECRET"),
		ServerSecret:      p.secret("SERVER_SECRET"),
		RedisURL:          p.secret("REDIS_URL"),
		RedisKeyPrefix:    p.str("REDIS_KEY_PREFIX", DefaultRedisKeyPrefix),
		RedisPoolSize:     p.integer("REDIS_POOL_SIZE", DefaultRedisPoolSize, 1, 10000),
		StreamerChanges:   p.integer("STREAMER_CHANGES_PER_MINUTE", DefaultStreamerChanges, 1, 1000000),
		StreamersPerUser:  p.integer("STREAMERS_PER_USER", DefaultStreamersPerUser, 1, 1000),
		TwitchOAuthURL:    strings.TrimRight(p.str("TWITCH_OAUTH_URL", DefaultTwitchOAuthURL), "/"),
		TwitchHelixURL:    strings.TrimRight(p.str("TWITCH_HELIX_URL", DefaultTwitchHelixURL), "/"),
		TwitchEventSubWS:  p.str("TWITCH_EVENTSUB_WS_URL", DefaultTwitchEventSubWS),
		EventSubTransport: p.transport(),
		SubscriptionLease: p.duration("SUBSCRIPTION_LEASE", DefaultSubscriptionLease),
		FollowingPoll:     p.duration("FOLLOWING_POLL_INTERVAL", DefaultFollowingPoll),
		HistorySize:       p.integer("HISTORY_SIZE", DefaultHistorySize, 1, 1000000),
		HistoryBytes:      p.integer("HISTORY_BYTES", DefaultHistoryBytes, 4096, 1<<30),
		HistoryAge:        p.duration("HISTORY_AGE", DefaultHistoryAge),
		AllowedOrigins:    p.list("ALLOWED_ORIGINS"),
		TrustedProxies:    p.prefixes("TRUSTED_PROXIES"),
		LogFormat:         p.oneOf("LOG_FORMAT", "", "text", "json"),
		LogLevel:          p.logLevel(),
		ShutdownTimeout:   p.duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout),
		CallbackReads:     p.integer("CALLBACK_MAX_READS", DefaultCallbackReads, 1, 1<<20),
		SocketsPerSession: p.integer("WS_MAX_PER_SESSION", DefaultSocketsPerSession, 1, 1<<20),
		SocketsPerIP:      p.integer("WS_MAX_PER_IP", DefaultSocketsPerIP, 1, 1<<20),
	}
	c.PublicURL = p.publicURL("PUBLIC_URL")
	p.urlValue("TWITCH_OAUTH_URL", c.TwitchOAuthURL)
	p.urlValue("TWITCH_HELIX_URL", c.TwitchHelixURL)
	if u, err := url.Parse(c.TwitchEventSubWS); err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		p.fail("TWITCH_EVENTSUB_WS_URL must be a wss:// URL (ws:// for a local simulator)")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			p.fail("REDIS_URL must be a redis:// or rediss:// URL")
		}
	}
	if c.TwitchClientID == "" {
		p.fail("TWITCH_CLIENT_ID is required")
	}
	if c.TwitchSecret == "" {
		p.fail("TWITCH_CLIENT_SECRET is required (or TWITCH_CLIENT_SECRET_FILE)")
	}
	if c.ServerSecret == "" {
		p.fail("SERVER_SECRET is required (or SERVER_SECRET_FILE): at least 32 random characters, e.g. `openssl rand -hex 32`")
	} else if len(c.ServerSecret) < MinServerSecretLen {
		p.fail(fmt.Sprintf("SERVER_SECRET must be at least %d characters", MinServerSecretLen))
	}
	if c.PublicURL == nil {
		p.fail("PUBLIC_URL is required: the https URL where users and Twitch reach this service, e.g. https://relay.example.com")
	}
	if c.FollowingPoll < time.Second {
		p.fail("FOLLOWING_POLL_INTERVAL must be at least 1s (each poll costs a Helix rate-limit point)")
	}
	if c.SubscriptionLease < time.Second {
		p.fail("SUBSCRIPTION_LEASE must be at least 1s")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// transport reads EVENTSUB_TRANSPORT.
func (p *parser) transport() string {
	return p.oneOf("EVENTSUB_TRANSPORT", DefaultEventSubTransport, "webhook", "websocket")
}

type parser struct {
	getenv   Getenv
	problems []string
}

func (p *parser) fail(msg string) { p.problems = append(p.problems, msg) }

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return errors.New("config: " + strings.Join(p.problems, "; "))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// secret reads NAME, or the file named by NAME_FILE (Docker secrets). Both set is an error.
func (p *parser) secret(name string) string {
	v, file := p.getenv(name), p.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		p.fail(fmt.Sprintf("%s and %s_FILE are both set: use one", name, name))
		return ""
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			p.fail(fmt.Sprintf("%s_FILE: %v", name, err))
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return strings.TrimSpace(v)
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil { // bare seconds, as the original design's lease
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(fmt.Sprintf("%s must be a positive duration like 1000s or 15m, got %q", name, v))
		return def
	}
	return d
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(fmt.Sprintf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v))
		return def
	}
	return n
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(p.getenv(name))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(fmt.Sprintf("%s must be one of %s, got %q", name, strings.Join(allowed, ", "), v))
	return def
}

func (p *parser) logLevel() string {
	return p.oneOf("LOG_LEVEL", DefaultLogLevel, "debug", "info", "warn", "error")
}

func (p *parser) list(name string) []string {
	var out []string
	for _, f := range strings.Split(p.getenv(name), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range p.list(name) {
		if !strings.Contains(f, "/") {
			if a, err := netip.ParseAddr(f); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
		}
		pr, err := netip.ParsePrefix(f)
		if err != nil {
			p.fail(fmt.Sprintf("%s: %q is not an IP address or CIDR", name, f))
			continue
		}
		out = append(out, pr.Masked())
	}
	return out
}

func (p *parser) publicURL(name string) *url.URL {
	v := strings.TrimRight(strings.TrimSpace(p.getenv(name)), "/")
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.fail(fmt.Sprintf("%s must be an absolute http(s) URL without query, got %q", name, v))
		return nil
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		p.fail(fmt.Sprintf("%s must be https (Twitch delivers webhooks only to https on port 443); plain http is allowed only for localhost", name))
		return nil
	}
	return u
}

func (p *parser) urlValue(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.fail(fmt.Sprintf("%s must be an absolute http(s) URL, got %q", name, v))
	}
}

// IsLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}
