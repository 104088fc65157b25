package deploytest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // 1-based line where it starts
	cmd  string // upper case: FROM, RUN, ...
	args string // the rest, trimmed
}

// stage is one FROM and the instructions that follow it.
type stage struct {
	image string // as written after FROM's flags, e.g. golang:1.26.8-bookworm
	name  string // AS name, or ""
	ins   []instruction
}

// parseDockerfile splits a Dockerfile into stages. It understands what this project's
// Dockerfile uses: comments, backslash continuations, FROM [--platform=...] image [AS name].
func parseDockerfile(t *testing.T, src string) []stage {
	t.Helper()
	var stages []stage
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		text := strings.TrimSpace(lines[i])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") { // comments inside a continuation are dropped
				next = `\`
			}
			text = strings.TrimSuffix(text, `\`) + " " + next
		}
		text = strings.TrimSpace(strings.TrimSuffix(text, `\`))
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var words []string
			for _, w := range strings.Fields(in.args) {
				if !strings.HasPrefix(w, "--") {
					words = append(words, w)
				}
			}
			if len(words) == 0 {
				t.Fatalf("Dockerfile:%d: FROM without an image", start)
			}
			st := stage{image: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" { // global ARGs before the first FROM
				continue
			}
			t.Fatalf("Dockerfile:%d: %s before the first FROM", start, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last is the last instruction cmd of the stage (the one in effect), or ok=false.
func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// goBuild is a `go build` command line, taken apart for comparison.
type goBuild struct {
	env     map[string]string // NAME=value words before `go`
	flags   []string          // every flag and its value, in order, without -o
	ldflags string            // -ldflags value, with the version variable written as VERSION
	output  string            // -o value
	pkgs    []string          // the packages built
}

var versionRef = regexp.MustCompile(`\$\(VERSION\)|\$\{VERSION\}|\$VERSION\b`)

// parseGoBuild finds the `go build` command in a shell command line and takes it apart.
func parseGoBuild(shell string) (goBuild, error) {
	words, err := shellWords(shell)
	if err != nil {
		return goBuild{}, err
	}
	// The simple command containing `go build`: split at && ; || |.
	var cmd []string
	for _, w := range append(words, ";") {
		if w == "&&" || w == ";" || w == "||" || w == "|" {
			if i := slices.Index(cmd, "go"); i >= 0 && i+1 < len(cmd) && cmd[i+1] == "build" {
				break
			}
			cmd = nil
			continue
		}
		cmd = append(cmd, w)
	}
	i := slices.Index(cmd, "go")
	if i < 0 || i+1 >= len(cmd) || cmd[i+1] != "build" {
		return goBuild{}, fmt.Errorf("no `go build` in %q", shell)
	}
	gb := goBuild{env: map[string]string{}}
	for _, w := range cmd[:i] {
		if strings.HasPrefix(w, "--") { // RUN --mount=... and similar
			continue
		}
		if k, v, ok := strings.Cut(w, "="); ok {
			gb.env[k] = v
		}
	}
	args := cmd[i+2:]
	for j := 0; j < len(args); j++ {
		a := args[j]
		if !strings.HasPrefix(a, "-") {
			gb.pkgs = append(gb.pkgs, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		takesValue := slices.Contains([]string{"-o", "-ldflags", "-gcflags", "-tags", "-buildmode", "-mod", "-p"}, name)
		if takesValue && !hasVal {
			if j+1 >= len(args) {
				return goBuild{}, fmt.Errorf("%s without a value in %q", name, shell)
			}
			j++
			val, hasVal = args[j], true
		}
		switch name {
		case "-o":
			gb.output = val
			continue
		case "-ldflags":
			val = versionRef.ReplaceAllString(val, "VERSION")
			gb.ldflags = val
		}
		if hasVal {
			gb.flags = append(gb.flags, name+"="+val)
		} else {
			gb.flags = append(gb.flags, name)
		}
	}
	return gb, nil
}

// shellWords splits a command line into words as sh would for the quoting used here:
// single and double quotes, backslash escapes outside single quotes; no expansion.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == ';':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, ";")
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// makefileRecipe returns the recipe of a Makefile target, continuation lines joined.
func makefileRecipe(t *testing.T, src, target string) string {
	t.Helper()
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, target+":") {
			continue
		}
		var recipe []string
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			recipe = append(recipe, strings.TrimSpace(r))
		}
		return strings.ReplaceAll(strings.Join(recipe, "\n"), "\\\n", " ")
	}
	t.Fatalf("Makefile has no %q target", target)
	return ""
}

// dockerfileBuild is the `go build` of the Dockerfile's first stage.
func dockerfileBuild(t *testing.T) (goBuild, []stage) {
	t.Helper()
	stages := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a multi-stage build (a builder and a final image)", len(stages))
	}
	for _, run := range stages[0].all("RUN") {
		if strings.Contains(run.args, "go build") {
			gb, err := parseGoBuild(run.args)
			if err != nil {
				t.Fatalf("Dockerfile:%d: %v", run.line, err)
			}
			return gb, stages
		}
	}
	t.Fatal("the Dockerfile's first stage has no RUN ... go build")
	return goBuild{}, nil
}

// imageTag is the tag of an image reference ("" when there is none), ignoring any @digest.
func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	gb, stages := dockerfileBuild(t)
	builder, final := stages[0], stages[len(stages)-1]

	t.Run("builder image is pinned to go.mod's Go version", func(t *testing.T) {
		tag := imageTag(builder.image)
		if !strings.HasPrefix(builder.image, "golang:") || tag == "" || tag == "latest" {
			t.Fatalf("builder FROM %s: want golang:<version>-<distro> pinned to a release, not latest or untagged", builder.image)
		}
		m := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
		if m == nil {
			t.Fatal("go.mod has no go directive")
		}
		// The golang image sets GOTOOLCHAIN=local: an older Go than go.mod's refuses to build.
		if !strings.HasPrefix(tag, m[1]+"-") && tag != m[1] {
			t.Errorf("builder FROM %s: tag %q does not match go.mod's go %s", builder.image, tag, m[1])
		}
	})

	t.Run("build flags", func(t *testing.T) {
		if got := gb.env["CGO_ENABLED"]; got != "0" {
			t.Errorf("go build runs with CGO_ENABLED=%q, want 0 (a static binary)", got)
		}
		if !slices.Contains(gb.flags, "-trimpath") {
			t.Errorf("go build flags %q lack -trimpath", gb.flags)
		}
		if !strings.Contains(gb.ldflags, "-X main.version=VERSION") {
			t.Errorf("-ldflags %q does not stamp -X main.version=${VERSION}", gb.ldflags)
		}
		if !slices.Equal(gb.pkgs, []string{"./cmd/twitchrelay"}) {
			t.Errorf("go build packages %q, want ./cmd/twitchrelay", gb.pkgs)
		}
		if !slices.ContainsFunc(builder.all("ARG"), func(in instruction) bool { return strings.HasPrefix(in.args, "VERSION") }) {
			t.Error("the build stage has no ARG VERSION for -X main.version")
		}
	})

	t.Run("build flags equal the Makefile's build target", func(t *testing.T) {
		mk, err := parseGoBuild(makefileRecipe(t, readRepoFile(t, "Makefile"), "build"))
		if err != nil {
			t.Fatalf("Makefile build target: %v", err)
		}
		if !slices.Equal(gb.flags, mk.flags) {
			t.Errorf("go build flags differ:\n Dockerfile: %q\n Makefile:   %q", gb.flags, mk.flags)
		}
		if !slices.Equal(gb.pkgs, mk.pkgs) {
			t.Errorf("packages differ: Dockerfile %q, Makefile %q", gb.pkgs, mk.pkgs)
		}
		for k, v := range mk.env {
			if gb.env[k] != v {
				t.Errorf("Makefile builds with %s=%s, the Dockerfile with %s=%q", k, v, k, gb.env[k])
			}
		}
		for k := range gb.env {
			if _, ok := mk.env[k]; !ok && k != "GOOS" && k != "GOARCH" && k != "GOARM" {
				t.Errorf("the Dockerfile builds with %s, the Makefile does not", k)
			}
		}
	})

	t.Run("final image", func(t *testing.T) {
		img := final.image
		if tag := imageTag(img); tag == "" || tag == "latest" {
			t.Errorf("final FROM %s: want a pinned tag", img)
		}
		if img != "scratch" && !(strings.Contains(img, "distroless/static")) {
			t.Errorf("final FROM %s: want a static image (distroless/static or scratch)", img)
		}
		if cp := final.all("COPY"); len(cp) == 0 || !strings.Contains(cp[0].args, "--from=") {
			t.Errorf("final stage does not COPY the binary --from the build stage")
		} else if !strings.Contains(cp[0].args, gb.output) {
			t.Errorf("final stage copies %q, the build writes %s", cp[0].args, gb.output)
		}
		user, ok := final.last("USER")
		if !ok {
			t.Fatal("final stage has no USER: it would run as root")
		}
		if u, _, _ := strings.Cut(user.args, ":"); u == "root" || u == "0" {
			t.Errorf("final stage USER %s: want a non-root user", user.args)
		}
	})

	t.Run("runtime settings", func(t *testing.T) {
		entry, ok := final.last("ENTRYPOINT")
		if !ok || entry.args != `["/twitchrelay"]` {
			t.Errorf(`ENTRYPOINT %q, want ["/twitchrelay"] (exec form)`, entry.args)
		}
		hc, ok := final.last("HEALTHCHECK")
		if !ok {
			t.Fatal("final stage has no HEALTHCHECK")
		}
		if !regexp.MustCompile(`CMD \["/twitchrelay",\s*"-healthcheck"\]`).MatchString(hc.args) {
			t.Errorf(`HEALTHCHECK %q: want exec form CMD ["/twitchrelay", "-healthcheck"] (no shell in the image)`, hc.args)
		}
		expose, ok := final.last("EXPOSE")
		if !ok || !slices.Contains(strings.Fields(expose.args), "8080") {
			t.Errorf("EXPOSE %q, want 8080", expose.args)
		}
		env, _ := final.last("ENV")
		if !slices.ContainsFunc(final.all("ENV"), func(in instruction) bool { return in.args == "LISTEN_ADDR=:8080" }) {
			t.Errorf("final stage lacks ENV LISTEN_ADDR=:8080 matching EXPOSE 8080 (last ENV: %q)", env.args)
		}
		stop, ok := final.last("STOPSIGNAL")
		if !ok || stop.args != "SIGTERM" {
			t.Errorf("STOPSIGNAL %q, want SIGTERM (the binary shuts down gracefully on it)", stop.args)
		}
	})
}

func TestParseGoBuild(t *testing.T) {
	tests := []struct {
		in      string
		env     map[string]string
		flags   []string
		out     string
		wantErr bool
	}{
		{
			in:    `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o twitchrelay ./cmd/twitchrelay`,
			env:   map[string]string{"CGO_ENABLED": "0"},
			flags: []string{"-trimpath", "-ldflags=-s -w -X main.version=VERSION"},
			out:   "twitchrelay",
		},
		{
			in:    `--mount=type=cache,target=/x GOOS=$TARGETOS CGO_ENABLED=0 go build -ldflags='-X main.version=${VERSION}' -trimpath -o /out/x ./cmd/twitchrelay && echo done`,
			env:   map[string]string{"GOOS": "$TARGETOS", "CGO_ENABLED": "0"},
			flags: []string{"-ldflags=-X main.version=VERSION", "-trimpath"},
			out:   "/out/x",
		},
		{in: `go mod download`, wantErr: true},
		{in: `go build -o`, wantErr: true},
	}
	for _, tt := range tests {
		gb, err := parseGoBuild(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseGoBuild(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if fmt.Sprint(gb.env) != fmt.Sprint(tt.env) || !slices.Equal(gb.flags, tt.flags) || gb.output != tt.out {
			t.Errorf("parseGoBuild(%q) = env %v flags %q -o %q, want env %v flags %q -o %q",
				tt.in, gb.env, gb.flags, gb.output, tt.env, tt.flags, tt.out)
		}
	}
}
