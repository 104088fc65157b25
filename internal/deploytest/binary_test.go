package deploytest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
)

const (
	testVersion     = "deploytest"
	buildTimeout    = 5 * time.Minute  // two shared cores, a cold build cache
	startTimeout    = 60 * time.Second // demo start-up, until -healthcheck passes
	stopTimeout     = 10 * time.Second // SIGTERM to exit
	probeInterval   = 100 * time.Millisecond
	probeRunTimeout = 10 * time.Second // one -healthcheck run (it gives up after 3s itself)
)

// buildLikeDockerfile builds ./cmd/twitchrelay with the Dockerfile's own go build command
// (flags and environment), VERSION set to testVersion and -o in a temporary directory.
func buildLikeDockerfile(t *testing.T) string {
	t.Helper()
	gb, _ := dockerfileBuild(t)
	bin := filepath.Join(t.TempDir(), "twitchrelay")
	args := []string{"build"}
	for _, f := range gb.flags {
		name, val, hasVal := strings.Cut(f, "=")
		if name == "-ldflags" {
			val = strings.ReplaceAll(val, "VERSION", testVersion)
		}
		args = append(args, name)
		if hasVal {
			args = append(args, val)
		}
	}
	args = append(args, "-o", bin)
	args = append(args, gb.pkgs...)

	env := os.Environ()
	for k, v := range gb.env {
		if strings.Contains(v, "$") { // GOOS=$TARGETOS: buildx's platform; here the host's
			continue
		}
		env = append(env, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = env
	t.Logf("building: CGO_ENABLED=%s go %s", gb.env["CGO_ENABLED"], strings.Join(quoteArgs(args), " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with the Dockerfile's flags failed: %v\n%s", err, out)
	}
	return bin
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// TestBinary builds the binary as the image does and checks what the container relies on.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; the ELF checks need a linux build")
	}
	bin := buildLikeDockerfile(t)

	t.Run("static and stripped", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is dynamically linked (distroless/static has no libc)", p.Type)
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("DT_NEEDED %v (err %v): want none", libs, err)
		}
		for _, name := range []string{".symtab", ".debug_info"} { // -s -w
			if f.Section(name) != nil {
				t.Errorf("section %s present: -ldflags \"-s -w\" did not take", name)
			}
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if root := repoRoot(t); bytes.Contains(b, []byte(root+string(filepath.Separator))) {
			t.Errorf("the binary contains the build directory %s: -trimpath did not take", root)
		}
	})

	t.Run("-version", func(t *testing.T) {
		out, err := exec.Command(bin, "-version").Output()
		if err != nil {
			t.Fatalf("%s -version: %v", bin, err)
		}
		if got, want := strings.TrimSpace(string(out)), "twitchrelay "+testVersion; got != want {
			t.Errorf("-version printed %q, want %q (-X main.version)", got, want)
		}
	})

	t.Run("-healthcheck against a closed port fails", func(t *testing.T) {
		addr := freeAddr(t)
		code, out := healthcheck(t, bin, addr)
		if code == 0 {
			t.Errorf("-healthcheck with LISTEN_ADDR=%s (nothing listening) exited 0; output %q", addr, out)
		}
	})

	t.Run("demo: healthy, then SIGTERM stops it cleanly", func(t *testing.T) {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		var out syncBuffer
		cmd := exec.Command(bin, "-demo")
		cmd.Env = append(cleanEnv(), "LISTEN_ADDR="+addr)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stopped := false // set once exited has been received
		defer func() {
			if !stopped {
				cmd.Process.Kill()
				<-exited
			}
		}()

		// Poll -healthcheck (as Docker would) until it passes.
		deadline := time.NewTimer(startTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		for ready := false; !ready; {
			select {
			case err := <-exited:
				stopped = true
				t.Fatalf("twitchrelay -demo exited before it was healthy: %v\n%s", err, out.String())
			case <-deadline.C:
				code, probe := healthcheck(t, bin, addr)
				t.Fatalf("-healthcheck still fails after %v (exit %d: %s)\nservice output:\n%s", startTimeout, code, probe, out.String())
			case <-tick.C:
				code, _ := healthcheck(t, bin, addr)
				ready = code == 0
			}
		}
		// The container form: LISTEN_ADDR=:8080, which the probe reaches on 127.0.0.1.
		if code, probe := healthcheck(t, bin, ":"+port); code != 0 {
			t.Errorf("-healthcheck with LISTEN_ADDR=:%s exited %d: %s", port, code, probe)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Errorf("after SIGTERM twitchrelay exited with %v, want 0\n%s", err, out.String())
			}
		case <-time.After(stopTimeout):
			t.Fatalf("twitchrelay did not exit within %v of SIGTERM\n%s", stopTimeout, out.String())
		}
		if code, _ := healthcheck(t, bin, addr); code == 0 {
			t.Error("-healthcheck still passes after the service stopped")
		}
	})
}

// healthcheck runs `bin -healthcheck` with LISTEN_ADDR=addr and returns its exit code and output.
func healthcheck(t *testing.T, bin, addr string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-healthcheck")
	cmd.Env = append(cleanEnv(), "LISTEN_ADDR="+addr)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("running %s -healthcheck: %v (%s)", bin, err, out)
		return -1, ""
	}
}

// cleanEnv is this process's environment without anything the service reads, so the demo
// starts (it refuses real Twitch credentials, PUBLIC_URL and REDIS_URL, which CI sets).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "TWITCH_"), strings.HasPrefix(name, "REDIS_"),
			strings.HasPrefix(name, "SERVER_SECRET"), strings.HasPrefix(name, "LOG_"),
			name == "PUBLIC_URL", name == "LISTEN_ADDR", name == "METRICS_ADDR":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// freeAddr is a loopback address with a port nothing listens on (it was free a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer = syncbuf.Buffer
