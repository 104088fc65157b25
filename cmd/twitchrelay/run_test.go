package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-version"}, envOf(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "twitchrelay dev\n" {
		t.Fatalf("-version printed %q", got)
	}
}

func TestConfigErrorsNameEveryVariable(t *testing.T) {
	err := run(t.Context(), nil, envOf(nil), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run started with no configuration")
	}
	for _, name := range []string{"TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "SERVER_SECRET", "PUBLIC_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestRealModeRefusesSimulatorCredentials(t *testing.T) {
	err := run(t.Context(), nil, envOf(map[string]string{
		"PUBLIC_URL": "https://relay.example.com", "TWITCH_CLIENT_ID": twitchsim.DefaultClientID,
		"TWITCH_CLIENT_SECRET": twitchsim.DefaultClientSecret, "SERVER_SECRET": strings.Repeat("k", 40),
	}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "demo simulator") {
		t.Fatalf("err = %v, want a refusal of the simulator's credentials", err)
	}
}

func TestDemoRefusesRealConfiguration(t *testing.T) {
	err := run(t.Context(), []string{"-demo"}, envOf(map[string]string{"TWITCH_CLIENT_SECRET": "real", "PUBLIC_URL": "https://relay.example.com"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TWITCH_CLIENT_SECRET") || !strings.Contains(err.Error(), "PUBLIC_URL") {
		t.Fatalf("err = %v, want a refusal naming the real variables", err)
	}
}

func TestUnknownArgument(t *testing.T) {
	if err := run(t.Context(), []string{"serve"}, envOf(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown argument accepted")
	}
}

// TestDemoStartsAndStops runs the README's run command in-process: the demo serves the
// landing page and the simulator, the self-probe passes, and cancelling stops it cleanly.
func TestDemoStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listening := make(chan string, 1)
	var stdout, stderr apptest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, []string{"demo"}, envOf(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json"}), &stdout, &stderr,
			hooks{onListen: func(u string) { listening <- u }})
	}()
	var base string
	select {
	case base = <-listening:
	case err := <-done:
		t.Fatalf("demo exited early: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Log in with Twitch") || !strings.Contains(string(body), "demo") {
		t.Fatalf("GET / = %d:\n%.300s", resp.StatusCode, body)
	}
	if !strings.Contains(stdout.String(), "twitchrelay demo is running: open http://127.0.0.1:") {
		t.Errorf("demo did not print the URL to open: %q", stdout.String())
	}
	if err := healthcheck(ctx, strings.TrimPrefix(base, "http://")); err != nil {
		t.Errorf("self-probe: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean shutdown in the logs:\n%s", stderr.String())
	}
	if err := healthcheck(context.Background(), strings.TrimPrefix(base, "http://")); err == nil {
		t.Error("self-probe passes against a stopped server")
	}
}
