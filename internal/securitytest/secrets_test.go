package securitytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// TestNoSecretInLogsOrPages runs a whole journey (login, choose, socket, one event of each
// feed, a token refresh, error pages, logout) with the simulator behind a recording proxy,
// then searches every log line, every page and every socket frame for every secret used.
func TestNoSecretInLogsOrPages(t *testing.T) {
	h, twitch := simBehindRecorder(t, apptest.Options{})
	b := h.NewBrowser()
	pages := recordBrowser(b)
	if err := b.Login("pixelpaladin"); err != nil { // the streamer: every feed is available
		t.Fatal(err)
	}
	if status, _, err := b.ChooseStreamer("pixelpaladin"); err != nil || status != http.StatusOK {
		t.Fatalf("choose: %d %v", status, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var frames []string
	if _, err := s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool {
		return f["stream_changed"].Status == "active" && f["user_changed"].Status == "active" && f["followed_by"].Status == "active"
	}); err != nil {
		t.Fatal(err)
	}
	for sid := range sessionIDs(h) {
		settled(t, h, sid)
	}
	sim := h.Sim
	for _, trigger := range []func() error{
		func() error { _, err := sim.Follow(ctx, "quietquinn", "pixelpaladin"); return err },
		func() error { _, err := sim.EndStream(ctx, "pixelpaladin"); return err },
		func() error { _, err := sim.GoLive(ctx, "pixelpaladin", "secret hunt", "Chess"); return err },
		func() error { _, err := sim.UpdateChannel(ctx, "pixelpaladin", "still hunting", ""); return err },
		func() error { _, err := sim.UpdateUser(ctx, "pixelpaladin", "new bio"); return err },
	} {
		if err := trigger(); err != nil {
			t.Fatal(err)
		}
		f, err := s.NextEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, string(f.Raw))
	}
	// Expire the user token: the next page refreshes it (a second access and refresh token).
	for _, tok := range tokens(twitch, "authorization_code") {
		sim.ExpireToken(tok)
	}
	if status, _, _ := b.Get("/stream"); status != http.StatusOK {
		t.Fatalf("/stream after the token expired: %d", status)
	}
	b.Get("/auth?code=reused&state=nope")     // error page
	b.Get("/auth?error=access_denied&state=") // error page
	s.Close()
	cookies := cookieValues(pages)
	if status, err := b.Logout(); err != nil || status != http.StatusOK {
		t.Fatalf("logout: %d %v", status, err)
	}
	h.Stop() // shutdown logs too

	secrets := map[string]string{"client secret": apptest.ClientSecret, "server secret": apptest.ServerSecret}
	for i, tok := range tokens(twitch, "") {
		secrets[fmt.Sprint("token ", i)] = tok
	}
	for i, c := range codes(twitch) {
		secrets[fmt.Sprint("OAuth code ", i)] = c
	}
	for i, c := range cookies {
		secrets[fmt.Sprint("session cookie ", i)] = c
	}
	sids := 0
	for _, x := range twitch.exchanges() {
		var create struct {
			Transport struct{ Callback, Secret string }
		}
		if x.Method == http.MethodPost && strings.HasSuffix(x.URL, "/eventsub/subscriptions") && json.Unmarshal([]byte(x.ReqBody), &create) == nil {
			sid := create.Transport.Callback[strings.LastIndex(create.Transport.Callback, "/")+1:]
			secrets["webhook secret of "+sid[:6]] = create.Transport.Secret
			secrets["derived secret of "+sid[:6]] = secretOf(sid)
			secrets["relay session id "+sid[:6]] = sid
			sids++
		}
	}
	if len(tokens(twitch, "authorization_code")) < 2 || len(codes(twitch)) < 1 || len(cookies) < 2 || sids == 0 {
		t.Fatalf("the journey did not exercise everything: %d user tokens, %d codes, %d cookies, %d creates",
			len(tokens(twitch, "authorization_code")), len(codes(twitch)), len(cookies), sids)
	}
	logs := h.Logs.String()
	var bodies strings.Builder
	for _, x := range pages.exchanges() {
		fmt.Fprintf(&bodies, "%s %s\n%s\n", x.URL, x.Header.Get("Location"), x.Body)
	}
	bodies.WriteString(strings.Join(frames, "\n"))
	for name, secret := range secrets {
		if len(secret) < 8 {
			t.Fatalf("%s is %q: too short to search for", name, secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("%s appears in the logs: %s", name, lineWith(logs, secret))
		}
		if !strings.HasPrefix(name, "relay session id") && !strings.HasPrefix(name, "OAuth code") && !strings.HasPrefix(name, "session cookie") && strings.Contains(bodies.String(), secret) {
			t.Errorf("%s appears in a page or frame the browser got", name)
		}
	}
	t.Logf("observed: %d secrets (client and server secret, %d tokens, %d codes, %d cookies, %d session ids with their webhook secrets) searched in %d log bytes and %d page/frame bytes: none found",
		len(secrets), len(tokens(twitch, "")), len(codes(twitch)), len(cookies), sids, len(logs), bodies.Len())
}

// tokens returns the access and refresh tokens the simulator issued through the proxy, for
// one grant type ("" for all: authorization_code, refresh_token, client_credentials).
func tokens(r *recorder, grant string) []string {
	var out []string
	for _, x := range r.exchanges() {
		if !strings.HasSuffix(mustURL(x.URL).Path, "/oauth2/token") || x.Status != http.StatusOK {
			continue
		}
		form, _ := url.ParseQuery(x.ReqBody)
		if g := form.Get("grant_type"); grant != "" && g != grant && !(grant == "authorization_code" && g == "refresh_token") {
			continue
		}
		var tok struct{ AccessToken, RefreshToken string }
		json.Unmarshal([]byte(strings.NewReplacer("access_token", "AccessToken", "refresh_token", "RefreshToken").Replace(x.Body)), &tok)
		for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// codes returns the authorization codes of the consent redirects.
func codes(r *recorder) []string {
	var out []string
	for _, x := range r.exchanges() {
		if loc := x.Header.Get("Location"); loc != "" {
			if c := mustURL(loc).Query().Get("code"); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

var cookieRe = regexp.MustCompile(`twitchrelay_session=([^;]+)`)

func cookieValues(r *recorder) []string {
	var out []string
	for _, x := range r.exchanges() {
		for _, sc := range x.Header.Values("Set-Cookie") {
			if m := cookieRe.FindStringSubmatch(sc); m != nil && m[1] != "" {
				out = append(out, m[1])
			}
		}
	}
	return out
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
