package config

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary values to every variable: Load never panics, and either returns a
// config that satisfies its invariants or an error that names a variable.
func FuzzLoad(f *testing.F) {
	f.Add("https://relay.example.com", "abc", "secret", strings.Repeat("s", 32), "1000", "10.0.0.0/8", "redis://127.0.0.1:6379/0")
	f.Add("http://localhost:8080", "", "", "", "soon", "nope", "127.0.0.1")
	f.Add("https://x/?q=1", "id", "sec", strings.Repeat("z", 40), "-5s", "::1,127.0.0.1/32", "")
	f.Fuzz(func(t *testing.T, public, id, secret, server, lease, proxies, redisURL string) {
		env := map[string]string{"PUBLIC_URL": public, "TWITCH_CLIENT_ID": id, "TWITCH_CLIENT_SECRET": secret,
			"SERVER_SECRET": server, "SUBSCRIPTION_LEASE": lease, "TRUSTED_PROXIES": proxies, "REDIS_URL": redisURL}
		c, err := Load(func(k string) string { return env[k] })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if c.PublicURL == nil || c.TwitchClientID == "" || c.TwitchSecret == "" || len(c.ServerSecret) < MinServerSecretLen || c.SubscriptionLease <= 0 {
			t.Fatalf("Load accepted an invalid config: %+v", c)
		}
		if c.PublicURL.Scheme == "http" && !IsLoopbackHost(c.PublicURL.Hostname()) {
			t.Fatalf("plain http PUBLIC_URL off loopback accepted: %s", c.PublicURL)
		}
	})
}
