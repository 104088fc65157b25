package deploytest

import (
	"regexp"
	"strings"
	"testing"
)

// TestProxyConfigs checks that deploy/'s reverse-proxy files point where docker-compose.yml
// puts the service and keep what WebSockets and Twitch's webhooks need. Their syntax is
// not checked here (`caddy validate`, `nginx -t`): neither is installed where tests run.
func TestProxyConfigs(t *testing.T) {
	cf, _ := loadCompose(t)

	t.Run("Caddyfile", func(t *testing.T) {
		src := readRepoFile(t, "deploy/Caddyfile")
		caddyEnv := environment(t, "caddy", cf.Services["caddy"].Environment)
		for _, m := range regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(src, -1) {
			if _, ok := caddyEnv[m[1]]; !ok {
				t.Errorf("deploy/Caddyfile uses {$%s}, which the caddy service does not get", m[1])
			}
		}
		if !regexp.MustCompile(`(?m)^\{\$DOMAIN\}\s*\{`).MatchString(src) {
			t.Error("deploy/Caddyfile does not serve the site {$DOMAIN} (automatic HTTPS)")
		}
		// The upstreams are every replica of the compose service, on the port it listens on,
		// balanced, with a replica that fails skipped (several instances: docs/DEPLOY.md).
		if !regexp.MustCompile(`(?m)^\s*reverse_proxy\s*\{`).MatchString(src) ||
			!regexp.MustCompile(`(?s)dynamic a \{\s*name twitchrelay\s+port 8080\b`).MatchString(src) {
			t.Error("deploy/Caddyfile does not reverse_proxy to every replica of twitchrelay on 8080 (dynamic a)")
		}
		for _, want := range []string{"lb_policy round_robin", "lb_try_duration", "fail_duration", "dial_timeout"} {
			if !strings.Contains(src, want) {
				t.Errorf("deploy/Caddyfile lacks %q: a dead replica must be skipped, not waited on", want)
			}
		}
		if _, ok := cf.Services["twitchrelay"]; !ok {
			t.Error("deploy/Caddyfile proxies to a service twitchrelay that docker-compose.yml lacks")
		}
	})

	t.Run("nginx", func(t *testing.T) {
		src := readRepoFile(t, "deploy/nginx.conf.example")
		for _, want := range []string{
			"server 127.0.0.1:8080",                           // where compose publishes the service
			"listen 443 ssl",                                  // Twitch calls back on https:443 only
			"return 301 https://",                             // port 80 redirects
			"proxy_http_version 1.1",                          // WebSocket upgrade needs HTTP/1.1
			"proxy_set_header Upgrade    $http_upgrade",       // ... and these two headers
			"proxy_set_header Connection $connection_upgrade", //
			"map $http_upgrade $connection_upgrade",           //
			"proxy_set_header Host              $host",        // the Origin check compares hosts
			"proxy_set_header X-Forwarded-For   $remote_addr", // the edge replaces, not appends
			"proxy_set_header X-Forwarded-Proto $scheme",      //
			"proxy_read_timeout 3600s",                        // long-lived sockets
			"client_max_body_size 64k",                        // the webhook body limit
		} {
			if !strings.Contains(src, want) {
				t.Errorf("deploy/nginx.conf.example lacks %q", want)
			}
		}
	})
}
