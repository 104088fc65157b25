package deploytest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/twitchrelay/twitchrelay/internal/config"
)

// composeFile is the part of docker-compose.yml the tests look at. Fields that Compose
// accepts in several shapes (list or map, string or list) are `any` and normalised below.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

type composeService struct {
	Build       any      `yaml:"build"`
	Image       string   `yaml:"image"`
	Profiles    []string `yaml:"profiles"`
	EnvFile     any      `yaml:"env_file"`
	Environment any      `yaml:"environment"`
	DependsOn   any      `yaml:"depends_on"`
	Ports       []any    `yaml:"ports"`
	Expose      []any    `yaml:"expose"`
	Volumes     []any    `yaml:"volumes"`
	Command     any      `yaml:"command"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
	ReadOnly        bool     `yaml:"read_only"`
	SecurityOpt     []string `yaml:"security_opt"`
	Restart         string   `yaml:"restart"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
}

func loadCompose(t *testing.T) (composeFile, any) {
	t.Helper()
	src := readRepoFile(t, "docker-compose.yml")
	var cf composeFile
	if err := yaml.Unmarshal([]byte(src), &cf); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML for Compose: %v", err)
	}
	var tree any
	if err := yaml.Unmarshal([]byte(src), &tree); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return cf, tree
}

// environment normalises `environment:` (a map, or a list of NAME=value) to a map.
func environment(t *testing.T, svc string, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range e {
			if val == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(val)
			}
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(fmt.Sprint(item), "=")
			out[k] = val
		}
	default:
		t.Fatalf("services.%s.environment: unexpected shape %T", svc, v)
	}
	return out
}

// stringList normalises a string-or-list field (env_file, command, healthcheck.test).
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			if m, ok := item.(map[string]any); ok { // env_file: [{path: .env}]
				out = append(out, fmt.Sprint(m["path"]))
				continue
			}
			out = append(out, fmt.Sprint(item))
		}
		return out
	}
	return nil
}

// walkStrings walks a decoded YAML tree and calls f on every key and scalar.
func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			f(k)
			walkStrings(val, f)
		}
	case []any:
		for _, item := range x {
			walkStrings(item, f)
		}
	case string:
		f(x)
	case nil:
	default:
		f(fmt.Sprint(x))
	}
}

func service(t *testing.T, cf composeFile, name string) composeService {
	t.Helper()
	s, ok := cf.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q (services: %v)", name, keys(cf.Services))
	}
	return s
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestComposeServices(t *testing.T) {
	cf, _ := loadCompose(t)
	relay, redis, caddy := service(t, cf, "twitchrelay"), service(t, cf, "redis"), service(t, cf, "caddy")

	t.Run("profiles", func(t *testing.T) {
		if len(relay.Profiles) != 0 || len(redis.Profiles) != 0 {
			t.Errorf("twitchrelay (profiles %q) and redis (profiles %q) must start with a plain `docker compose up`", relay.Profiles, redis.Profiles)
		}
		if !slices.Contains(caddy.Profiles, "proxy") {
			t.Errorf("caddy has profiles %q, want it optional under the profile \"proxy\"", caddy.Profiles)
		}
	})

	t.Run("twitchrelay waits for a healthy redis", func(t *testing.T) {
		deps, ok := relay.DependsOn.(map[string]any)
		if !ok {
			t.Fatalf("twitchrelay.depends_on is %T, want the long form with a condition", relay.DependsOn)
		}
		r, _ := deps["redis"].(map[string]any)
		if r == nil || r["condition"] != "service_healthy" {
			t.Errorf("twitchrelay.depends_on.redis = %v, want condition: service_healthy", deps["redis"])
		}
	})

	t.Run("healthchecks", func(t *testing.T) {
		for name, s := range map[string]composeService{"twitchrelay": relay, "redis": redis} {
			if s.Healthcheck == nil || len(stringList(s.Healthcheck.Test)) == 0 {
				t.Errorf("%s has no healthcheck (depends_on service_healthy needs one)", name)
			}
		}
		if relay.Healthcheck == nil {
			return
		}
		// The image has no shell: exec form, the image's entrypoint with -healthcheck.
		test := stringList(relay.Healthcheck.Test)
		if want := []string{"CMD", "/twitchrelay", "-healthcheck"}; !slices.Equal(test, want) {
			t.Errorf("twitchrelay healthcheck test %q, want %q (no shell or curl in the image)", test, want)
		}
		if redis.Healthcheck != nil && !strings.Contains(strings.Join(stringList(redis.Healthcheck.Test), " "), "redis-cli ping") {
			t.Errorf("redis healthcheck %q does not run redis-cli ping", stringList(redis.Healthcheck.Test))
		}
	})

	t.Run("twitchrelay ports", func(t *testing.T) {
		env := environment(t, "twitchrelay", relay.Environment)
		if env["LISTEN_ADDR"] != ":8080" {
			t.Errorf("twitchrelay LISTEN_ADDR %q, want :8080 (the image's EXPOSE and healthcheck)", env["LISTEN_ADDR"])
		}
		var found bool
		for _, p := range relay.Expose {
			found = found || fmt.Sprint(p) == "8080"
		}
		for _, p := range relay.Ports {
			ps := fmt.Sprint(p)
			if !strings.HasSuffix(ps, ":8080") {
				continue
			}
			found = true
			// Only the host's proxy may reach the service directly.
			if !strings.HasPrefix(ps, "127.0.0.1:") && !strings.HasPrefix(ps, "[::1]:") {
				t.Errorf("twitchrelay publishes %q: bind it to 127.0.0.1 so only the reverse proxy reaches it", ps)
			}
			// --scale: each replica needs a host port of its own, so a range, not one port.
			if !regexp.MustCompile(`:\d+-\d+:8080$`).MatchString(ps) {
				t.Errorf("twitchrelay publishes %q: one host port; `--scale twitchrelay=3` needs a range (127.0.0.1:8080-8089:8080)", ps)
			}
		}
		if !found {
			t.Errorf("twitchrelay exposes %v and publishes %v: neither has 8080", relay.Expose, relay.Ports)
		}
	})

	t.Run("twitchrelay hardening", func(t *testing.T) {
		if !slices.Contains(stringList(relay.EnvFile), ".env") {
			t.Errorf("twitchrelay env_file %v, want .env (secrets live there, not in the compose file)", relay.EnvFile)
		}
		if relay.Build == nil {
			t.Error("twitchrelay has no build: `docker compose build` would not build the Dockerfile")
		}
		if !relay.ReadOnly {
			t.Error("twitchrelay is not read_only: the binary writes nothing")
		}
		if !slices.ContainsFunc(relay.SecurityOpt, func(s string) bool { return strings.HasPrefix(s, "no-new-privileges") }) {
			t.Errorf("twitchrelay security_opt %q lacks no-new-privileges", relay.SecurityOpt)
		}
		if relay.Restart == "" || relay.StopGracePeriod == "" {
			t.Errorf("twitchrelay restart %q stop_grace_period %q: want both set", relay.Restart, relay.StopGracePeriod)
		}
		env := environment(t, "twitchrelay", relay.Environment)
		u, err := url.Parse(env["REDIS_URL"])
		if err != nil || u.Scheme != "redis" || u.Hostname() != "redis" {
			t.Errorf("twitchrelay REDIS_URL %q, want redis://redis:6379/... (the redis service)", env["REDIS_URL"])
		}
	})

	// Sessions, tokens and webhook ids carry TTLs, so a volatile-* policy would evict live
	// logins, and allkeys-* anything: only noeviction (refuse writes when full) keeps them.
	t.Run("redis has a memory limit that cannot evict sessions", func(t *testing.T) {
		cmd := stringList(redis.Command)
		i := slices.Index(cmd, "--maxmemory")
		if i < 0 || i+1 >= len(cmd) || cmd[i+1] == "0" || cmd[i+1] == "" {
			t.Errorf("redis command %q lacks --maxmemory <limit>", cmd)
		}
		if i := slices.Index(cmd, "--maxmemory-policy"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != "noeviction" {
			t.Errorf("redis command %q lacks --maxmemory-policy noeviction", cmd)
		}
	})

	t.Run("redis persists to a named volume", func(t *testing.T) {
		if !strings.HasPrefix(redis.Image, "redis:") || imageTag(redis.Image) == "" || imageTag(redis.Image) == "latest" {
			t.Errorf("redis image %q: want a pinned redis:<version> tag", redis.Image)
		}
		cmd := stringList(redis.Command)
		if i := slices.Index(cmd, "--appendonly"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != "yes" {
			t.Errorf("redis command %q lacks --appendonly yes", cmd)
		}
		var data bool
		for _, v := range redis.Volumes {
			src, dst, _ := strings.Cut(fmt.Sprint(v), ":")
			if dst == "/data" {
				data = true
				if _, ok := cf.Volumes[src]; !ok {
					t.Errorf("redis mounts %q on /data, which is not a named volume under volumes:", src)
				}
			}
		}
		if !data {
			t.Errorf("redis volumes %v: nothing on /data, Redis would lose everything with its container", redis.Volumes)
		}
	})

	t.Run("caddy", func(t *testing.T) {
		if !strings.HasPrefix(caddy.Image, "caddy:") || imageTag(caddy.Image) == "" || imageTag(caddy.Image) == "latest" {
			t.Errorf("caddy image %q: want a pinned caddy:<version> tag", caddy.Image)
		}
		var ports []string
		for _, p := range caddy.Ports {
			ports = append(ports, fmt.Sprint(p))
		}
		for _, want := range []string{"80:80", "443:443", "443:443/udp"} {
			if !slices.Contains(ports, want) {
				t.Errorf("caddy ports %q lack %q", ports, want)
			}
		}
		if _, ok := environment(t, "caddy", caddy.Environment)["DOMAIN"]; !ok {
			t.Error("caddy gets no DOMAIN: deploy/Caddyfile serves {$DOMAIN}")
		}
		var caddyfile bool
		for _, v := range caddy.Volumes {
			src, rest, _ := strings.Cut(fmt.Sprint(v), ":")
			caddyfile = caddyfile || (src == "./deploy/Caddyfile" && strings.HasPrefix(rest, "/etc/caddy/Caddyfile"))
		}
		if !caddyfile {
			t.Errorf("caddy volumes %v do not mount ./deploy/Caddyfile on /etc/caddy/Caddyfile", caddy.Volumes)
		}
	})

	t.Run("bind mounts exist", func(t *testing.T) {
		for name, s := range cf.Services {
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(fmt.Sprint(v), ":")
				if !strings.HasPrefix(src, "./") {
					continue
				}
				if _, err := os.Stat(filepath.Join(repoRoot(t), filepath.FromSlash(src))); err != nil {
					t.Errorf("services.%s mounts %s: %v", name, src, err)
				}
			}
		}
	})
}

// interpolation matches ${NAME...} and $NAME; $$ is an escaped dollar.
var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)`)

func TestComposeVariables(t *testing.T) {
	cf, tree := loadCompose(t)
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v] = true
	}

	t.Run("environment names are read by the service", func(t *testing.T) {
		for name := range environment(t, "twitchrelay", cf.Services["twitchrelay"].Environment) {
			if !known[name] {
				t.Errorf("docker-compose.yml sets %s for twitchrelay, which config.Load does not read (it reads %v)", name, config.Variables())
			}
		}
	})

	t.Run("interpolated names are known", func(t *testing.T) {
		walkStrings(tree, func(s string) {
			for _, m := range interpolation.FindAllStringSubmatch(s, -1) {
				name := m[1] + m[2]
				if name != "" && !known[name] && composeOnly[name] == "" {
					t.Errorf("docker-compose.yml interpolates ${%s}: neither read by the service nor in the compose-only list %v", name, keys(composeOnly))
				}
			}
		})
	})

	t.Run("no secret in the compose file", func(t *testing.T) {
		for svc, s := range cf.Services {
			for name, val := range environment(t, svc, s.Environment) {
				if !config.IsSecret(name) || strings.HasSuffix(name, "_FILE") || isReference(val) {
					continue
				}
				if name == "REDIS_URL" {
					if u, err := url.Parse(val); err == nil {
						if _, hasPassword := u.User.Password(); !hasPassword {
							continue // a URL without a password is no secret
						}
					}
				}
				if val != "" {
					t.Errorf("services.%s.environment.%s has a literal value: secrets belong in .env or a _FILE secret", svc, name)
				}
			}
		}
		// Also anywhere else (command lines, comments turned into values, list-form env).
		secretAssign := regexp.MustCompile(`\b(TWITCH_CLIENT_SECRET|SERVER_SECRET)\s*[=:]\s*([^\s$]\S*)`)
		walkStrings(tree, func(s string) {
			if m := secretAssign.FindStringSubmatch(s); m != nil {
				t.Errorf("docker-compose.yml contains %s with a literal value %q", m[1], m[2])
			}
		})
	})
}

// isReference reports whether a value is only a ${NAME} interpolation (a secret passed through).
func isReference(v string) bool {
	return regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$`).MatchString(v)
}
