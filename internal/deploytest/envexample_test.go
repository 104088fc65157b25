package deploytest

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/config"
)

// envAssign is one NAME=value line of .env.example, active or commented out (`# NAME=value`).
type envAssign struct {
	line   int
	name   string
	value  string
	active bool
}

// envExample is .env.example taken apart.
type envExample struct {
	assigns   []envAssign
	mentioned map[string]int // every NAME= anywhere, comments included -> first line
}

var (
	activeAssign    = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	commentedAssign = regexp.MustCompile(`^#\s*([A-Z_][A-Z0-9_]*)=(.*)$`)
	anyAssign       = regexp.MustCompile(`\b([A-Z][A-Z0-9_]*)=`)
)

func parseEnvExample(t *testing.T, src string) envExample {
	t.Helper()
	e := envExample{mentioned: map[string]int{}}
	for i, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if m := activeAssign.FindStringSubmatch(l); m != nil {
			e.assigns = append(e.assigns, envAssign{line: i + 1, name: m[1], value: m[2], active: true})
		} else if m := commentedAssign.FindStringSubmatch(l); m != nil {
			e.assigns = append(e.assigns, envAssign{line: i + 1, name: m[1], value: m[2]})
		} else if !strings.HasPrefix(l, "#") {
			t.Errorf(".env.example:%d: %q is neither a comment nor NAME=value", i+1, l)
		}
		for _, m := range anyAssign.FindAllStringSubmatch(l, -1) {
			if _, ok := e.mentioned[m[1]]; !ok {
				e.mentioned[m[1]] = i + 1
			}
		}
	}
	return e
}

func (e envExample) active() map[string]string {
	out := map[string]string{}
	for _, a := range e.assigns {
		if a.active {
			out[a.name] = a.value
		}
	}
	return out
}

func TestEnvExample(t *testing.T) {
	env := parseEnvExample(t, readRepoFile(t, ".env.example"))
	active := env.active()
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v] = true
	}

	t.Run("required variables are present", func(t *testing.T) {
		for _, name := range config.Required {
			if _, ok := active[name]; !ok {
				t.Errorf(".env.example lacks %s= (uncommented): config.Required lists it", name)
			}
		}
	})

	t.Run("every name is read by the service or compose-only", func(t *testing.T) {
		for name, line := range env.mentioned {
			if !known[name] && composeOnly[name] == "" {
				t.Errorf(".env.example:%d names %s, which config.Load does not read and is not compose-only %v", line, name, keys(composeOnly))
			}
		}
	})

	t.Run("every variable the service reads is documented", func(t *testing.T) {
		for _, name := range config.Variables() {
			if _, ok := env.mentioned[name]; !ok {
				t.Errorf(".env.example does not mention %s= (config.Load reads it): add it, commented out with its default, and a comment", name)
			}
		}
	})

	t.Run("compose-only names are used by the compose file", func(t *testing.T) {
		compose := readRepoFile(t, "docker-compose.yml")
		for name := range composeOnly {
			if !strings.Contains(compose, "${"+name) {
				t.Errorf("compose-only %s is not interpolated in docker-compose.yml: drop it from the list", name)
			}
		}
	})

	t.Run("no secret and no duplicate", func(t *testing.T) {
		seen := map[string]int{}
		for _, a := range env.assigns {
			if !a.active {
				continue
			}
			if first, dup := seen[a.name]; dup {
				t.Errorf(".env.example:%d sets %s again (first on line %d)", a.line, a.name, first)
			}
			seen[a.name] = a.line
			if config.IsSecret(a.name) && !strings.HasSuffix(a.name, "_FILE") && a.value != "" {
				t.Errorf(".env.example:%d ships a value for the secret %s: leave it empty", a.line, a.name)
			}
		}
	})

	// What the container sees: .env (env_file), then the service's environment on top.
	cf, _ := loadCompose(t)
	composeEnv := environment(t, "twitchrelay", cf.Services["twitchrelay"].Environment)

	t.Run("as shipped, the service refuses to start and names what to fill", func(t *testing.T) {
		vars := map[string]string{}
		for k, v := range active {
			vars[k] = v
		}
		for k, v := range composeEnv {
			vars[k] = v
		}
		_, err := config.Load(func(k string) string { return vars[k] })
		if err == nil {
			t.Fatal("config.Load accepted .env.example unfilled: an unconfigured deployment would start")
		}
		for _, name := range config.Required {
			if vars[name] == "" && !strings.Contains(err.Error(), name) {
				t.Errorf("config.Load error does not name %s: %v", name, err)
			}
		}
	})

	t.Run("filled in, every example value loads", func(t *testing.T) {
		// Active lines, then the commented examples (their values must be valid too), then
		// compose's environment, then the required values a user fills in.
		vars := map[string]string{}
		for _, a := range env.assigns {
			if a.active || (a.value != "" && !strings.HasSuffix(a.name, "_FILE") && composeOnly[a.name] == "") {
				vars[a.name] = a.value
			}
		}
		for k, v := range composeEnv {
			vars[k] = v
		}
		filled := map[string]string{
			"PUBLIC_URL":           "https://relay.example.com",
			"TWITCH_CLIENT_ID":     "abcdefghijklmnopqrstuvwxyz0123",
			"TWITCH_CLIENT_SECRET": "0123456789abcdefghijklmnopqrst",
			"SERVER_SECRET":        strings.Repeat("5e", 32), // openssl rand -hex 32
		}
		for _, name := range config.Required {
			if vars[name] == "" {
				v, ok := filled[name]
				if !ok {
					t.Fatalf("config.Required has %s: give the test a sample value for it", name)
				}
				vars[name] = v
			}
		}
		cfg, err := config.Load(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatalf("config.Load rejects .env.example's values (with the required ones filled): %v", err)
		}
		if cfg.ListenAddr != ":8080" {
			t.Errorf("ListenAddr %q, want :8080", cfg.ListenAddr)
		}
		if cfg.RedisURL == "" {
			t.Error("no REDIS_URL: compose must give the service its Redis")
		}
	})

	t.Run("TRUSTED_PROXIES covers the compose network", func(t *testing.T) {
		var trusted []netip.Prefix
		for _, f := range strings.Split(active["TRUSTED_PROXIES"], ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			p, err := netip.ParsePrefix(f)
			if err != nil {
				a, aerr := netip.ParseAddr(f)
				if aerr != nil {
					t.Fatalf("TRUSTED_PROXIES entry %q: %v", f, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			trusted = append(trusted, p)
		}
		var subnets int
		for name, n := range cf.Networks {
			for _, c := range n.IPAM.Config {
				subnets++
				sub, err := netip.ParsePrefix(c.Subnet)
				if err != nil {
					t.Fatalf("networks.%s subnet %q: %v", name, c.Subnet, err)
				}
				if !slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Bits() <= sub.Bits() && p.Contains(sub.Addr()) }) {
					t.Errorf("TRUSTED_PROXIES=%s in .env.example does not cover networks.%s (%s), where Caddy and the host's proxy connect from", active["TRUSTED_PROXIES"], name, sub)
				}
			}
		}
		if subnets == 0 {
			t.Error("docker-compose.yml fixes no network subnet: TRUSTED_PROXIES could not name the proxy's address")
		}
	})
}

func TestParseEnvExample(t *testing.T) {
	src := "# comment with FOO_BAR=1 inside\nA=1\n#  B=two words\n\nC=\n"
	e := parseEnvExample(t, src)
	var got []string
	for _, a := range e.assigns {
		got = append(got, a.name+"="+a.value+map[bool]string{true: " active", false: " commented"}[a.active])
	}
	want := []string{"A=1 active", "B=two words commented", "C= active"}
	if !slices.Equal(got, want) {
		t.Errorf("assignments %q, want %q", got, want)
	}
	for _, name := range []string{"FOO_BAR", "A", "B", "C"} {
		if _, ok := e.mentioned[name]; !ok {
			t.Errorf("%s not among the mentioned names %v", name, e.mentioned)
		}
	}
}
