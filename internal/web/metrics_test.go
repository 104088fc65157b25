package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// /metrics reports what an operator needs after a real journey: webhook outcomes, the
// callback → socket latency, open sockets, sessions, Helix calls.
func TestMetricsAfterAJourney(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s := watcher(t, h, "modmaria", "pixelpaladin")
	h.Sim.SetMisbehavior(twitchsim.Misbehavior{DuplicateDelivery: true})
	if _, err := h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "metrics", ""); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, s)
	// A forged callback.
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/callback/"+strings.Repeat("a", 32), strings.NewReader(`{}`))
	req.Header.Set("Twitch-Eventsub-Message-Id", "x")
	req.Header.Set("Twitch-Eventsub-Message-Timestamp", time.Now().UTC().Format(time.RFC3339Nano))
	req.Header.Set("Twitch-Eventsub-Message-Type", "notification")
	req.Header.Set("Twitch-Eventsub-Message-Signature", "sha256="+strings.Repeat("0", 64))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	// The server records the latency just after its write returns; the client may be faster.
	apptest.Wait(t, 5*time.Second, "the delivery latency recorded", func() bool {
		return strings.Contains(scrape(t, h), "twitchrelay_delivery_latency_seconds_count 1")
	})
	body := scrape(t, h)
	for _, want := range []string{
		`twitchrelay_webhook_deliveries_total{outcome="accepted",type="channel.update"} 1`,
		`twitchrelay_webhook_deliveries_total{outcome="duplicate",type="channel.update"} 1`,
		`twitchrelay_webhook_deliveries_total{outcome="bad_signature",type=""} 1`,
		`twitchrelay_websockets_open 1`,
		`twitchrelay_sessions 1`,
		`twitchrelay_delivery_latency_seconds_count 1`,
		`twitchrelay_helix_requests_total{code="202",endpoint="POST /eventsub/subscriptions"}`,
		`twitchrelay_http_requests_total{code="200",route="/stream"} 1`,
		`twitchrelay_feed_status_changes_total{feed="stream_changed",status="active"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if regexp.MustCompile(`[0-9a-f]{32}`).MatchString(body) {
		t.Error("/metrics contains something shaped like a session id")
	}
	s.Close()
	apptest.Wait(t, 5*time.Second, "socket gauge back to 0", func() bool {
		return strings.Contains(scrape(t, h), "twitchrelay_websockets_open 0")
	})
}

func scrape(t *testing.T, h *apptest.Harness) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// With METRICS_ADDR, /metrics leaves the public listener for its own address.
func TestMetricsOnSeparateAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := apptest.Start(t, apptest.Options{Env: map[string]string{"METRICS_ADDR": addr}})
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404", resp.StatusCode)
	}
	var body []byte
	apptest.Wait(t, 5*time.Second, "the metrics listener", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	if !strings.Contains(string(body), "twitchrelay_sessions") {
		t.Error("the metrics listener does not serve twitchrelay's metrics")
	}
}
