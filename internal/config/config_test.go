package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func valid() map[string]string {
	return map[string]string{
		"PUBLIC_URL":           "https://relay.example.com/",
		"TWITCH_CLIENT_ID":     "abc123",
		"TWITCH_CLIENT_SECRET": "s3cr3t",
		"SERVER_SECRET":        strings.Repeat("x", 32),
	}
}

func TestLoadValid(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.PublicURL.String(); got != "https://relay.example.com" {
		t.Errorf("PublicURL = %q, want trailing slash trimmed", got)
	}
	if !c.Secure() {
		t.Error("Secure() = false for an https PUBLIC_URL")
	}
	if c.SubscriptionLease != DefaultSubscriptionLease || c.ListenAddr != DefaultListenAddr {
		t.Errorf("defaults not applied: lease %v listen %q", c.SubscriptionLease, c.ListenAddr)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{"SUBSCRIPTION_LEASE": "soon", "LOG_FORMAT": "xml", "TRUSTED_PROXIES": "nope"}))
	if err == nil {
		t.Fatal("Load accepted an empty environment")
	}
	for _, want := range []string{
		"TWITCH_CLIENT_ID is required",
		"TWITCH_CLIENT_SECRET is required (or TWITCH_CLIENT_SECRET_FILE)",
		"SERVER_SECRET is required (or SERVER_SECRET_FILE)",
		"PUBLIC_URL is required",
		"SUBSCRIPTION_LEASE must be a positive duration",
		"LOG_FORMAT must be one of",
		`TRUSTED_PROXIES: "nope" is not an IP address or CIDR`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadCases(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
		check   func(*testing.T, *Config)
	}{
		{name: "http public url off loopback", set: map[string]string{"PUBLIC_URL": "http://relay.example.com"}, wantErr: "PUBLIC_URL must be https"},
		{name: "http public url on localhost", set: map[string]string{"PUBLIC_URL": "http://localhost:8080"}, check: func(t *testing.T, c *Config) {
			if c.Secure() {
				t.Error("Secure() = true for http://localhost")
			}
		}},
		{name: "secret from file", set: map[string]string{"TWITCH_CLIENT_SECRET": "", "TWITCH_CLIENT_SECRET_FILE": secretFile}, check: func(t *testing.T, c *Config) {
			if c.TwitchSecret != "from-file" {
				t.Errorf("TwitchSecret = %q, want from-file", c.TwitchSecret)
			}
		}},
		{name: "secret and file both", set: map[string]string{"TWITCH_CLIENT_SECRET_FILE": secretFile}, wantErr: "TWITCH_CLIENT_SECRET and TWITCH_CLIENT_SECRET_FILE are both set"},
		{name: "missing secret file", set: map[string]string{"TWITCH_CLIENT_SECRET": "", "TWITCH_CLIENT_SECRET_FILE": filepath.Join(dir, "nope")}, wantErr: "TWITCH_CLIENT_SECRET_FILE:"},
		{name: "short server secret", set: map[string]string{"SERVER_SECRET": "short"}, wantErr: "SERVER_SECRET must be at least 32"},
		{name: "lease in bare seconds", set: map[string]string{"SUBSCRIPTION_LEASE": "90"}, check: func(t *testing.T, c *Config) {
			if c.SubscriptionLease != 90*time.Second {
				t.Errorf("lease = %v, want 90s", c.SubscriptionLease)
			}
		}},
		{name: "bad redis url", set: map[string]string{"REDIS_URL": "127.0.0.1:6379"}, wantErr: "REDIS_URL must be a redis://"},
		{name: "history size range", set: map[string]string{"HISTORY_SIZE": "0"}, wantErr: "HISTORY_SIZE must be a whole number"},
		{name: "trusted proxies", set: map[string]string{"TRUSTED_PROXIES": "10.0.0.1, 172.16.0.0/12"}, check: func(t *testing.T, c *Config) {
			if len(c.TrustedProxies) != 2 || c.TrustedProxies[0].Bits() != 32 {
				t.Errorf("TrustedProxies = %v", c.TrustedProxies)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			for k, v := range tt.set {
				m[k] = v
			}
			c, err := Load(env(m))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestVariablesListsWhatLoadReads(t *testing.T) {
	vars := Variables()
	for _, want := range append(Required, "TWITCH_CLIENT_SECRET_FILE", "SERVER_SECRET_FILE", "REDIS_URL", "LISTEN_ADDR", "SUBSCRIPTION_LEASE") {
		found := false
		for _, v := range vars {
			found = found || v == want
		}
		if !found {
			t.Errorf("Variables() lacks %s: %v", want, vars)
		}
	}
}

func TestDemo(t *testing.T) {
	c, err := Demo(env(nil))
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	if !c.Demo || c.ListenAddr != DemoListenAddr || c.SubscriptionLease != DemoSubscriptionLease ||
		c.FollowingPoll != DemoFollowingPoll || c.HistorySize != DefaultHistorySize || c.HistoryAge != DefaultHistoryAge ||
		c.LogFormat != DemoLogFormat || c.LogLevel != DefaultLogLevel || c.ShutdownTimeout != DemoShutdownTimeout || c.RedisURL != "" {
		t.Errorf("Demo() = %+v, want the demo defaults", c)
	}
	if len(c.ServerSecret) < MinServerSecretLen {
		t.Errorf("demo server secret has %d characters, want at least %d", len(c.ServerSecret), MinServerSecretLen)
	}
	if again, _ := Demo(env(nil)); again.ServerSecret == c.ServerSecret {
		t.Error("two demos share a server secret")
	}
	c, err = Demo(env(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"}))
	if err != nil || c.ListenAddr != "127.0.0.1:0" || c.LogFormat != "json" || c.LogLevel != "debug" {
		t.Errorf("Demo with LISTEN_ADDR, LOG_FORMAT, LOG_LEVEL = %+v, %v", c, err)
	}
	if _, err := Demo(env(map[string]string{"LOG_FORMAT": "xml"})); err == nil || !strings.Contains(err.Error(), "LOG_FORMAT must be one of") {
		t.Errorf("Demo with LOG_FORMAT=xml: err = %v", err)
	}
}

func TestDemoRefusesARealDeployment(t *testing.T) {
	_, err := Demo(env(map[string]string{"TWITCH_CLIENT_ID": "abc", "REDIS_URL": "redis://127.0.0.1:6379/0", "SERVER_SECRET": strings.Repeat("x", 32)}))
	if err == nil || !strings.Contains(err.Error(), "unset TWITCH_CLIENT_ID, REDIS_URL or run without -demo") {
		t.Fatalf("err = %v, want a refusal naming TWITCH_CLIENT_ID and REDIS_URL only", err)
	}
}
