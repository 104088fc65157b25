package securitytest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// seen is one HTTP exchange a recorder saw.
type seen struct {
	Method, URL string
	ReqBody     string
	Status      int
	Header      http.Header
	Body        string
}

// recorder keeps every exchange that passes through it: as a browser's transport (every page,
// redirect and cookie the browser got) or in front of the simulator (what Twitch issued).
type recorder struct {
	mu   sync.Mutex
	all  []seen
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.all = append(r.all, seen{req.Method, req.URL.String(), string(reqBody), resp.StatusCode, resp.Header.Clone(), string(body)})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.all...)
}

// recordBrowser makes b's every exchange visible.
func recordBrowser(b *apptest.Browser) *recorder {
	r := &recorder{next: b.Client.Transport}
	b.Client.Transport = r
	return r
}

// simBehindRecorder starts a relay whose Twitch is the simulator behind a recording reverse
// proxy: the test sees every token, code and secret the relay and the browser exchange with
// Twitch, as an eavesdropper on that link would.
func simBehindRecorder(t testing.TB, opt apptest.Options) (*apptest.Harness, *recorder) {
	t.Helper()
	if opt.Sim == nil { // borrow a harness's simulator
		first := apptest.Start(t, apptest.Options{})
		first.Stop()
		opt.Sim, opt.SimURL, opt.Clock = first.Sim, first.SimURL, first.Clock
	}
	target, _ := url.Parse(opt.SimURL)
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = rec
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	opt.SimURL = srv.URL
	return apptest.Start(t, opt), rec
}
