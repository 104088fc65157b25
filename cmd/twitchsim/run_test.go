package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// TestServesTheSimulator runs the binary's run: it prints where it listens, serves the
// simulator's controls there, and returns cleanly when its context ends.
func TestServesTheSimulator(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-client-id", "abcdefghijklmnopqrstuvwxyz0123", "-redirect-uri", "http://127.0.0.1:1/auth"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "twitchsim listening on ")
	if !ok {
		t.Fatalf("first line %q, want \"twitchsim listening on URL\"", line)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(base+"/sim/trigger", url.Values{"type": {"update"}, "login": {"pixelpaladin"}, "title": {"t"}, "category": {"Art"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("trigger: %s, %v", resp.Status, err)
	}
	// The client id flag reached the OAuth server: a client-credentials grant with the
	// default id is refused, with the flag's id accepted.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"abcdefghijklmnopqrstuvwxyz0123"}, "client_secret": {"twitchsimdefaultclientsecret00"}}
	resp, err = c.PostForm(base+"/id/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token with the flag's client id: %s", resp.Status)
	}
	form.Set("client_id", "twitchsimdefaultclientid000000")
	resp, err = c.PostForm(base+"/id/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("token with the default client id accepted although -client-id replaced it")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRejectsArguments(t *testing.T) {
	if err := run(t.Context(), []string{"extra"}, io.Discard, io.Discard); err == nil {
		t.Fatal("an unexpected argument was accepted")
	}
}
