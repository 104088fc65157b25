// Package client drives twitchrelay as a person's browser would, over real HTTP and a real
// WebSocket: a cookie jar, the simulator's consent form, the streamer form and the stream
// socket. It does not import testing, so the load harness (cmd/relaybench) links it too.
package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Test credentials of the relay under test and its simulator: not the simulator's defaults,
// which real mode refuses.
const (
	ClientID     = "apptestclientid0000000000000000"
	ClientSecret = "apptestclientsecret00000000000"
	ServerSecret = "apptest-server-secret-0123456789abcdef"
)

// Browser is a person's browser: a cookie jar, redirects followed, forms posted.
type Browser struct {
	URL    string // the relay's base URL (= PUBLIC_URL)
	Addr   string // the relay's host:port, for the socket
	Client *http.Client
	Jar    *cookiejar.Jar
}

// NewBrowser returns a browser of the relay at baseURL (listening on addr) with an empty
// cookie jar.
func NewBrowser(baseURL, addr string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{URL: baseURL, Addr: addr, Jar: jar, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Get fetches a relay path and returns the final response's status and body.
func (b *Browser) Get(path string) (int, string, error) {
	resp, err := b.Client.Get(absolute(b.URL, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// PostForm posts a form to a relay path as the page would (same Origin), returning the
// final response after redirects.
func (b *Browser) PostForm(path string, form url.Values) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, absolute(b.URL, path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

// CSRF reads the form token from a page the relay rendered.
func (b *Browser) CSRF(path string) (string, error) {
	_, body, err := b.Get(path)
	if err != nil {
		return "", err
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("apptest: no csrf_token on %s", path)
	}
	return m[1], nil
}

// Authorize starts the login and stops at the simulator's consent page, returning the
// authorize URL (with state) the relay sent the browser to.
func (b *Browser) Authorize() (*url.URL, error) {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(b.URL + "/login")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("apptest: /login answered %s", resp.Status)
	}
	return url.Parse(resp.Header.Get("Location"))
}

// Consent posts the simulator's consent form for login (action "authorize" or "cancel") and
// returns the redirect back to the relay (not followed).
func (b *Browser) Consent(authorize *url.URL, login, action string) (*url.URL, error) {
	form := authorize.Query()
	form.Set("login", login)
	form.Set("action", action)
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	target := *authorize
	target.RawQuery = ""
	resp, err := c.PostForm(target.String(), form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("apptest: consent answered %s: %s", resp.Status, trimErr(body))
	}
	return url.Parse(resp.Header.Get("Location"))
}

// Login runs the whole login as login, ending on /enter_streamer.
func (b *Browser) Login(login string) error {
	au, err := b.Authorize()
	if err != nil {
		return err
	}
	back, err := b.Consent(au, login, "authorize")
	if err != nil {
		return err
	}
	status, body, err := b.Get(back.String())
	if err != nil {
		return err
	}
	if status != http.StatusOK || !strings.Contains(body, "Choose a streamer") {
		return fmt.Errorf("apptest: login ended on %d: %.300s", status, body)
	}
	return nil
}

// ChooseStreamer submits the streamer form and returns the final status and body.
func (b *Browser) ChooseStreamer(login string) (int, string, error) {
	token, err := b.CSRF("/enter_streamer")
	if err != nil {
		return 0, "", err
	}
	resp, body, err := b.PostForm("/enter_streamer", url.Values{"csrf_token": {token}, "streamer": {login}})
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, body, nil
}

// Logout posts the logout form.
func (b *Browser) Logout() (int, error) {
	token, err := b.CSRF("/enter_streamer")
	if err != nil {
		return 0, err
	}
	resp, _, err := b.PostForm("/logout", url.Values{"csrf_token": {token}})
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// DialWS opens the stream page's socket with this browser's cookies and the page's Origin.
func (b *Browser) DialWS(ctx context.Context) (*websocket.Conn, error) {
	u, _ := url.Parse(b.URL)
	hdr := http.Header{"Origin": {b.URL}}
	for _, c := range b.Jar.Cookies(u) {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	c, resp, err := websocket.Dial(ctx, "ws://"+b.Addr+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return c, err
}

func absolute(base, ref string) string {
	b, _ := url.Parse(base)
	r, err := b.Parse(ref)
	if err != nil {
		return ref
	}
	return r.String()
}

func trimErr(b []byte) string { return strings.TrimSpace(string(b)) }
