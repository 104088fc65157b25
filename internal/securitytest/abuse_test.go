package securitytest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Shared budgets and logs under abuse (docs/SECURITY.md): what a stranger, or one logged-in
// user, can make the server spend, with the bound and what everyone else sees meanwhile.

// TestCookieTossing: a request carrying the session cookie twice (a sibling subdomain set the
// attacker's own) is refused with a page saying what to do, and logs nobody in as the
// attacker; the victim's own cookie alone still works. On https the cookie is __Host-.
func TestCookieTossing(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	attacker := h.NewBrowser()
	if err := attacker.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	victim, _, _ := watcher(t, h, "pixelpaladin", "pixelpaladin")
	mine, theirs := cookieHeader(h, victim), cookieHeader(h, attacker)
	for _, c := range []string{theirs + "; " + mine, mine + "; " + theirs} {
		for _, path := range []string{"/enter_streamer", "/stream", "/"} {
			a := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+path, nil)), c))
			if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "two login cookies") {
				t.Errorf("GET %s with two session cookies = %d %.200q, want 400 naming the two cookies", path, a.Status, a.Body)
			}
			if strings.Contains(a.Body, "modmaria") || strings.Contains(a.Body, "PixelPaladin") {
				t.Errorf("GET %s with two session cookies shows a login: %.300q", path, a.Body)
			}
		}
	}
	if a := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/stream", nil)), mine)); a.Status != http.StatusOK {
		t.Errorf("the victim's own cookie alone: /stream = %d", a.Status)
	}

	// On https the session cookie (set at /auth: an anonymous visitor gets none) is
	// __Host-prefixed. The harness serves http, so the Secure state cookie is carried by hand.
	hs := apptest.Start(t, apptest.Options{Env: map[string]string{"PUBLIC_URL": "https://relay.example.com"}})
	hs.Sim.SetRedirectURIs("https://relay.example.com/auth")
	b := hs.NewBrowser()
	login, err := noFollow.Get(hs.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	authorize, err := url.Parse(login.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	var state string
	for _, c := range login.Cookies() {
		state = c.Name + "=" + c.Value
	}
	back, err := b.Consent(authorize, "modmaria", "authorize")
	if err != nil {
		t.Fatal(err)
	}
	req := must(http.NewRequest(http.MethodGet, hs.URL+"/auth?"+back.RawQuery, nil))
	resp, err := noFollow.Do(withCookie(req, state))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(v, "twitchrelay_session=") {
			sc = v
		}
	}
	if !strings.HasPrefix(sc, "__Host-twitchrelay_session=") || !strings.Contains(sc, "Path=/") || strings.Contains(sc, "Domain") || !strings.Contains(sc, "Secure") {
		t.Errorf("https login Set-Cookie %q (answer %d): want __Host-twitchrelay_session, Path=/, Secure, no Domain", sc, resp.StatusCode)
	}
	t.Logf("observed: two session cookies (either order) → 400 on 3 pages, no login shown; one cookie → 200; https cookie %q", strings.SplitN(sc, "=", 2)[0])
}

// TestReadyzFloodWhileTwitchIsDown: with Twitch's token endpoint failing and Redis
// unreachable, 2,000 calls to /readyz (8 at a time) cost Twitch a handful of app-token
// requests, not one each, and the body names the failing checks without their reasons (no
// upstream error, no Redis address); the reasons are in the log. A watcher's feed keeps
// delivering meanwhile.
func TestReadyzFloodWhileTwitchIsDown(t *testing.T) {
	sim := twitchsim.New(twitchsim.Config{ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret,
		AllowInsecureCallbacks: true, RetryBackoff: time.Millisecond})
	var tokenCalls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/id/oauth2/token" {
			tokenCalls.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { sim.Close(); srv.Close() })
	h := apptest.Start(t, apptest.Options{Sim: sim, SimURL: srv.URL})
	_, s, _ := watcher(t, h, "modmaria", "pixelpaladin")

	// Twitch's token endpoint fails from now on; a second relay, which holds no app token
	// yet, has a Redis that is not there: its address must not be shown.
	sim.InjectFault(twitchsim.Fault{Path: "/id/oauth2/token", Method: http.MethodPost, Status: http.StatusServiceUnavailable, Count: 1 << 20})
	dead := "127.0.0.1:1"
	hr := apptest.Start(t, apptest.Options{Sim: sim, SimURL: srv.URL, RedisURL: "redis://" + dead + "/0"})
	before := tokenCalls.Load()
	const calls, workers = 2000, 8
	var bodies sync.Map
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < calls; i += workers {
				a := do(t, must(http.NewRequest(http.MethodGet, hr.URL+"/readyz", nil)))
				if a.Status != http.StatusServiceUnavailable {
					t.Errorf("/readyz with Twitch down = %d %s", a.Status, a.Body)
					return
				}
				bodies.Store(strings.TrimSpace(a.Body), true)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	got := tokenCalls.Load() - before
	if limit := int64(took/(2*time.Second)) + 3; got > limit { // one fetch per cache period, and the start-up reconcile's
		t.Errorf("%d /readyz calls in %v asked Twitch for an app token %d times, want at most %d", calls, took.Round(time.Millisecond), got, limit)
	}
	bodies.Range(func(k, _ any) bool {
		b := k.(string)
		for _, leak := range []string{dead, "dial", "refused", "503", "Service Unavailable", "token"} {
			if strings.Contains(b, leak) {
				t.Errorf("/readyz body %q shows %q", b, leak)
			}
		}
		return true
	})
	for _, want := range []string{"readiness check failed", dead} {
		if !strings.Contains(hr.Logs.String()+h.Logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	h.Sim.UpdateChannel(t.Context(), "pixelpaladin", "during the readyz flood", "")
	expectTitle(t, s, "during the readyz flood")
	var shown []string
	bodies.Range(func(k, _ any) bool { shown = append(shown, k.(string)); return true })
	t.Logf("observed: %d /readyz calls in %v → %d app-token requests at Twitch; bodies %q; the watcher got its event", calls, took.Round(time.Millisecond), got, shown)
}

// TestRefusedCallbacksLogLittle: 2,000 forged callbacks (8 at a time, each with a made-up
// subscription type; half with a 4 KiB message id, refused 400, half with a 250-byte one and
// a bad signature, refused 403) write a bounded number of short log lines,
// while genuine callbacks sent during the flood are each answered 204, logged and delivered.
func TestRefusedCallbacksLogLittle(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s, sid := watcher(t, h, "modmaria", "pixelpaladin")
	sub := subscriptionOf(t, h, sid, eventsub.TypeChannelUpdate)
	url, secret := callbackURL(h, sid), secretOf(sid)
	logStart := len(h.Logs.String())

	const flood, workers = 2000, 8
	longID := strings.Repeat("x", 4<<10)
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	fc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	t.Cleanup(fc.CloseIdleConnections)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= flood; i = next.Add(1) {
				id := fmt.Sprintf("%.250s", fmt.Sprint(i, longID))
				if i%2 == 0 {
					id = fmt.Sprint(longID, i)
				}
				req := signedRequest(url, "forged", msg{ID: id, Body: updateBody(sub, "forged")})
				req.Header.Set(eventsub.HeaderSubscriptionType, fmt.Sprint("made.up.", i))
				resp, err := fc.Do(req)
				if err != nil {
					t.Errorf("flood request: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest {
					refused.Add(1)
				}
			}
		})
	}
	const genuine = 20
	for i := range genuine {
		title := fmt.Sprint("genuine during the flood ", i)
		if a := do(t, signedRequest(url, secret, msg{ID: fmt.Sprint("genuine-", i), Body: updateBody(sub, title)})); a.Status != http.StatusNoContent {
			t.Errorf("genuine callback %d during the flood = %d, want 204", i, a.Status)
		}
		expectTitle(t, s, title)
	}
	wg.Wait()
	took := time.Since(start)
	if refused.Load() != flood {
		t.Errorf("%d of %d forged callbacks refused with 400 or 403", refused.Load(), flood)
	}
	var refusedBytes, refusedLines, genuineLines int
	for _, line := range strings.Split(h.Logs.String()[logStart:], "\n") {
		switch {
		case strings.Contains(line, `"outcome":"bad_signature"`), strings.Contains(line, `"outcome":"malformed_headers"`):
			refusedBytes += len(line) + 1
			refusedLines++
		case strings.Contains(line, `"message_id":"genuine-`):
			genuineLines++
		}
	}
	// Per outcome (two here), the first 10 of each 10 s window and one summary line per window.
	windows := int(took/(10*time.Second)) + 1
	if maxLines := 2 * windows * 11; refusedLines > maxLines || refusedBytes > maxLines*1024 {
		t.Errorf("%d forged callbacks in %v wrote %d log lines, %d bytes; want at most %d lines of under 1 KiB", flood, took.Round(time.Millisecond), refusedLines, refusedBytes, maxLines)
	}
	if genuineLines != genuine {
		t.Errorf("%d genuine callbacks logged, want %d", genuineLines, genuine)
	}
	metrics := do(t, must(http.NewRequest(http.MethodGet, h.URL+"/metrics", nil))).Body
	if strings.Contains(metrics, "made.up.") {
		t.Errorf("/metrics has a series per made-up subscription type")
	}
	t.Logf("observed: %d forged callbacks (half with 4 KiB ids) in %v → %d log lines, %d bytes; %d genuine ones during the flood 204, logged and delivered", flood, took.Round(time.Millisecond), refusedLines, refusedBytes, genuine)
}

// TestOAuthErrorParameterIsBounded: a 60 KB error parameter on /auth with the attacker's own
// valid state answers 400 with a short log line, not 502 with a 60 KB ERROR line.
func TestOAuthErrorParameterIsBounded(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	nr := &http.Client{Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nr.Get(h.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	logStart := len(h.Logs.String())
	big := strings.Repeat("A", 60<<10)
	resp, err = nr.Get(h.URL + "/auth?state=" + loc.Query().Get("state") + "&error=" + big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/auth with a 60 KB error = %d, want 400", resp.StatusCode)
	}
	logged := h.Logs.String()[logStart:]
	if len(logged) > 2048 || strings.Contains(logged, `"level":"ERROR"`) {
		t.Errorf("/auth with a 60 KB error logged %d bytes (want < 2 KiB, no ERROR): %.300s", len(logged), logged)
	}
	if err := b.Login("modmaria"); err != nil { // the same browser then logs in normally
		t.Errorf("login after the refused one: %v", err)
	}
	t.Logf("observed: 60 KB error= → %d, %d bytes logged", resp.StatusCode, len(logged))
}

// TestRedisPoolsAreBounded: 1,000 page requests from 200 concurrent logged-in clients, in
// Redis mode, open no more Redis connections than the two pools allow (REDIS_POOL_SIZE each;
// the relay uses a database of its own here, so CLIENT LIST's db= tells its connections), and
// every request, and a well-behaved user's page meanwhile, is served.
func TestRedisPoolsAreBounded(t *testing.T) {
	const poolSize, clients, perClient = 8, 200, 5
	rurl := redisDB(t, 11)
	h := apptest.Start(t, apptest.Options{RedisURL: rurl, Env: map[string]string{"REDIS_POOL_SIZE": fmt.Sprint(poolSize)}})
	var cookies []string
	for _, login := range []string{"modmaria", "pixelpaladin", "chatterbox42", "lurker_lou"} {
		b := h.NewBrowser()
		if err := b.Login(login); err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, cookieHeader(h, b))
	}
	ropt, _ := redis.ParseURL(rurl)
	ropt.DB = 0 // the counting client is not one of the relay's
	rc := redis.NewClient(ropt)
	t.Cleanup(func() { rc.Close() })
	ours := func() int {
		list, err := rc.ClientList(t.Context()).Result()
		if err != nil {
			t.Errorf("CLIENT LIST: %v", err)
			return 0
		}
		return strings.Count(list, " db=11 ")
	}

	stop, peakc := make(chan struct{}), make(chan int, 1)
	go func() {
		peak := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, ours())
			select {
			case <-stop:
				peakc <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for range perClient {
				req := withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/enter_streamer", nil)), cookies[c%len(cookies)])
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	userStart := time.Now()
	user := do(t, withCookie(must(http.NewRequest(http.MethodGet, h.URL+"/enter_streamer", nil)), cookies[0]))
	userTook := time.Since(userStart)
	wg.Wait()
	took := time.Since(start)
	close(stop)
	peak := <-peakc
	if list := rc.ClientList(t.Context()).Val(); !strings.Contains(list, "name=twitchrelay-sessions@") || !strings.Contains(list, "name=twitchrelay-state@") {
		t.Errorf("the relay's Redis connections are not named (CLIENT SETNAME) by pool")
	}
	if peak > 2*poolSize {
		t.Errorf("%d Redis connections open at the peak, want at most %d (two pools of %d)", peak, 2*poolSize, poolSize)
	}
	if ok.Load() != clients*perClient {
		t.Errorf("%d of %d requests answered 200 (%d failed)", ok.Load(), clients*perClient, failed.Load())
	}
	if user.Status != http.StatusOK || userTook > 5*time.Second {
		t.Errorf("the well-behaved user's page during the flood: %d after %v", user.Status, userTook)
	}
	t.Logf("observed: %d requests from %d concurrent clients in %v, peak %d Redis connections (pools of %d), %d×200; a user's page meanwhile %d in %v",
		clients*perClient, clients, took.Round(time.Millisecond), peak, poolSize, ok.Load(), user.Status, userTook.Round(time.Millisecond))
}

// TestStreamerChurnDoesNotStarveOthers: one user switching streamer in a loop (each change
// followed by the page's socket, which subscribes the new streamer) is refused with 429 and a
// retry time after STREAMER_CHANGES_PER_MINUTE changes, in this session and in a second session
// of the same Twitch user, so the app's shared Helix bucket (100 points a minute here) keeps
// enough for everyone else: another user's feeds are active within 3 s right after the churn.
func TestStreamerChurnDoesNotStarveOthers(t *testing.T) {
	const points, changes, attempts = 100, 3, 24
	sim := twitchsim.New(twitchsim.Config{ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret,
		AllowInsecureCallbacks: true, RetryBackoff: time.Millisecond, RateLimitPoints: points})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	h := apptest.Start(t, apptest.Options{Sim: sim, SimURL: srv.URL, Env: map[string]string{"STREAMER_CHANGES_PER_MINUTE": fmt.Sprint(changes)}})

	tabs := []*apptest.Browser{h.NewBrowser(), h.NewBrowser()} // two sessions of one Twitch user
	for _, b := range tabs {
		if err := b.Login("h4x0r"); err != nil {
			t.Fatal(err)
		}
	}
	streamers := []string{"pixelpaladin", "cozycrafter", "nightowl_tv"} // the other user watches speedy_sam
	current := make([]string, len(tabs))
	var accepted, refused int
	var refusal string
	start := time.Now()
	for i := range attempts {
		b, want := tabs[i%2], streamers[i%len(streamers)]
		if want == current[i%2] { // each attempt a change
			want = streamers[(i+1)%len(streamers)]
		}
		status, body, err := b.ChooseStreamer(want)
		switch {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusTooManyRequests:
			refused++
			refusal = body
			continue
		case status != http.StatusOK:
			t.Fatalf("change %d = %d %.300s", i, status, body)
		}
		accepted++
		current[i%2] = want
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		s, err := b.Connect(ctx, "", 0)
		if err == nil {
			_, err = s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool {
				return len(f) == 6 && f["stream_changed"].Status != "pending" && f["user_changed"].Status != "pending"
			})
			s.Close()
		}
		cancel()
		if err != nil {
			t.Fatalf("change %d: socket: %v", i, err)
		}
	}
	churn := time.Since(start)
	left := sim.RateLimitRemaining(apptest.ClientID, "")
	if accepted > changes+1 { // the refill during the churn may allow one more
		t.Errorf("%d of %d streamer changes accepted across two sessions of one user, want at most %d", accepted, attempts, changes+1)
	}
	if refused > 0 && (!strings.Contains(refusal, "Too many streamer changes") || !strings.Contains(refusal, "seconds")) {
		t.Errorf("the 429 page does not say when to retry: %.500s", refusal)
	}
	victimStart := time.Now()
	h.Watch(t, "modmaria", "speedy_sam")
	victim := time.Since(victimStart)
	if victim > 3*time.Second {
		t.Errorf("another user's feeds took %v to become active after the churn, want under 3 s", victim)
	}
	t.Logf("observed: %d changes in %v: %d accepted, %d refused 429; app bucket %d of %d left; another user's feeds active after %v",
		attempts, churn.Round(time.Millisecond), accepted, refused, left, points, victim.Round(time.Millisecond))
}

// TestStreamersPerUserCapped: one Twitch account opening sessions for more distinct streamers
// than STREAMERS_PER_USER (2 here) gets no subscriptions for the extra ones: their feeds say
// why, in plain words, and Twitch holds nothing for those sessions. Another session of the
// same account on a streamer it already holds still works (shared), and another user is
// unaffected.
func TestStreamersPerUserCapped(t *testing.T) {
	const limit = 2
	h := apptest.Start(t, apptest.Options{Env: map[string]string{"STREAMERS_PER_USER": fmt.Sprint(limit)}})
	streamers := []string{"pixelpaladin", "cozycrafter", "nightowl_tv", "speedy_sam", "pixelpaladin"}
	feeds := make([]map[string]apptest.Feed, len(streamers))
	for i, st := range streamers {
		b := h.NewBrowser()
		if err := b.Login("h4x0r"); err != nil {
			t.Fatal(err)
		}
		if status, body, err := b.ChooseStreamer(st); err != nil || status != http.StatusOK {
			t.Fatalf("choose %s = %d %v %.200s", st, status, err, body)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		s, err := b.Connect(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		feeds[i], err = s.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool {
			return len(f) == 6 && f["stream_changed"].Status != "pending" && f["user_changed"].Status != "pending"
		})
		cancel()
		if err != nil {
			t.Fatalf("session %d (%s): %v", i, st, err)
		}
	}
	for i, st := range streamers {
		capped := i >= limit && i < 4
		got := feeds[i]["stream_changed"]
		switch {
		case capped && (got.Status != "failed" || !strings.Contains(got.Reason, "already watching 2 other streamers")):
			t.Errorf("session %d (%s, over the cap): stream feed %+v, want failed saying why", i, st, got)
		case !capped && got.Status != "active":
			t.Errorf("session %d (%s, within the cap): stream feed %+v, want active", i, st, got)
		}
	}
	var held []string
	for _, sub := range h.Sim.Subscriptions() {
		// user.update has user_id, channel.raid to_broadcaster_user_id
		held = append(held, sub.Condition["broadcaster_user_id"]+sub.Condition["user_id"]+sub.Condition["to_broadcaster_user_id"])
	}
	distinct := map[string]bool{}
	for _, id := range held {
		distinct[id] = true
	}
	h.Watch(t, "modmaria", "speedy_sam")
	if len(distinct) > limit {
		t.Errorf("Twitch holds subscriptions for %d streamers of one user's sessions, want at most %d", len(distinct), limit)
	}
	t.Logf("observed: %d sessions of one user on %d streamers (cap %d): Twitch holds %d subscriptions for %d streamers; the extra sessions' feeds: %q; another user on a third streamer: active",
		len(streamers), 4, limit, len(held), len(distinct), feeds[2]["stream_changed"].Reason)
}

// noFollow is a client that returns redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
