package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// X-Forwarded-For is believed only from TRUSTED_PROXIES; the logs show the decided address.
func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	for _, tt := range []struct {
		name, trusted, xff, want, notWant string
	}{
		{"no trusted proxies", "", "203.0.113.9", `"client":"127.0.0.1"`, "203.0.113.9"},
		{"loopback proxy trusted", "127.0.0.1", "198.51.100.7, 203.0.113.9", `"client":"203.0.113.9"`, "198.51.100.7"},
		{"proxy chain trusted", "127.0.0.0/8,203.0.113.0/24", "198.51.100.7, 203.0.113.9", `"client":"198.51.100.7"`, ""},
		{"garbage header", "127.0.0.1", "not-an-ip", `"client":"127.0.0.1"`, "not-an-ip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{Env: map[string]string{"TRUSTED_PROXIES": tt.trusted}})
			req, _ := http.NewRequest(http.MethodGet, h.URL+"/healthz", nil)
			req.Header.Set("X-Forwarded-For", tt.xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var line string
			for _, l := range strings.Split(h.Logs.String(), "\n") {
				if strings.Contains(l, `"route":"/healthz"`) {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) || (tt.notWant != "" && strings.Contains(line, tt.notWant)) {
				t.Fatalf("request log %s: want %s", line, tt.want)
			}
		})
	}
}
