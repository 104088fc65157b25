package securitytest

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// patientSim is a simulator that retries failed deliveries like Twitch does, spread over
// seconds (the harness's own retries are 1 ms apart): a retry can outlive a restart or a
// Redis outage. Its logs (e.g. "delivery failed") go to the returned buffer.
func patientSim(t testing.TB) (apptest.Options, *apptest.SyncBuffer) {
	t.Helper()
	logs := &apptest.SyncBuffer{}
	clock := &apptest.Clock{}
	sim := twitchsim.New(twitchsim.Config{
		ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret, AllowInsecureCallbacks: true,
		DeliveryRetries: 60, RetryBackoff: 250 * time.Millisecond, MaxNotificationFailures: 1000,
		RateLimitPoints: 100000, Now: clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return apptest.Options{Sim: sim, SimURL: srv.URL, Clock: clock}, logs
}

// frontProxy starts the relay behind a reverse proxy that is its PUBLIC_URL, as in
// production; intercept may answer a request itself (return true) instead of passing it on.
func frontProxy(t testing.TB, opt apptest.Options, intercept func(http.ResponseWriter, *http.Request) bool) *apptest.Harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // reserve the relay's address
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rp := httputil.NewSingleHostReverseProxy(mustURL("http://" + addr))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(front.Close)
	opt.Addr = addr
	if opt.Env == nil {
		opt.Env = map[string]string{}
	}
	opt.Env["PUBLIC_URL"] = front.URL
	h := apptest.Start(t, opt)
	h.Sim.SetRedirectURIs(front.URL + "/auth")
	return h
}
