package browsertest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// The streamer of the journey logs in to watch its own channel, so every feed is available.
// CozyCrafter starts offline, titled "Cottage village, day 41" in Minecraft.
const streamer = "cozycrafter"

// TestJourney is the original workflow's ten steps in a real browser, against the real
// relay and the Twitch simulator: landing → Log in with Twitch → the simulator's consent
// page → Authorize → /auth → /enter_streamer (an invalid name first) → /stream → the socket
// connects → one event of each feed appears → the network drops while two more events
// happen → after the reconnect both are there, once each, in order → log out → the
// session's EventSub subscriptions are deleted on Twitch. It runs with each transport
// (EVENTSUB_TRANSPORT): webhooks, and the user's own Twitch WebSocket session; the page
// cannot tell them apart. The screenshots are the webhook run's.
func TestJourney(t *testing.T) {
	t.Run("webhook", func(t *testing.T) { journey(t, false) })
	t.Run("websocket", func(t *testing.T) { journey(t, true) })
}

func journey(t *testing.T, websocket bool) {
	h, proxy := startBehindProxy(t, websocket)
	tb := newTab(t)
	shots := screenshotDir(t)
	if websocket {
		shots = t.TempDir()
	}

	// 1. The landing page.
	tb.do("open the landing page", chromedp.Navigate(h.URL+"/"), chromedp.WaitVisible(css("a.btn-twitch")))
	if title := eval[string](tb, "title", "document.title"); !strings.Contains(title, "twitchrelay") {
		t.Errorf("landing page title %q does not name twitchrelay", title)
	}
	tb.wantText("a.btn-twitch", "Log in with Twitch")
	tb.checkA11y("landing")
	tb.screenshot(shots, "landing.png", false)
	tb.step("1. landing page")

	// CozyCrafter follows a few channels, two of them live: the streamer form offers them.
	for _, ch := range []string{"speedy_sam", "pixelpaladin", "nightowl_tv"} {
		if _, err := h.Sim.Follow(context.Background(), streamer, ch); err != nil {
			t.Fatalf("simulator: %s follows %s: %v", streamer, ch, err)
		}
	}

	// 2. "Log in with Twitch" leads to the simulator's consent page.
	tb.do("click Log in with Twitch", chromedp.Click(css("a.btn-twitch")), chromedp.WaitVisible(css("#user-"+streamer)))
	if loc := eval[string](tb, "location", "location.href"); !strings.HasPrefix(loc, h.SimURL+"/id/oauth2/authorize?") {
		t.Errorf("Log in with Twitch went to %s, want the simulator's authorize page", loc)
	}
	tb.logA11y("authorize (simulator)")
	tb.screenshot(shots, "authorize.png", false)
	tb.step("2. Twitch's consent page")

	// 3. Pick the user and authorize: back through /auth to the streamer form.
	tb.do("authorize as "+streamer, chromedp.Click(css("#user-"+streamer)),
		chromedp.Click(css(`button[name=action][value=authorize]`)), chromedp.WaitVisible(css("#streamer")))
	if !tb.visited("GET " + h.URL + "/auth?code=") {
		t.Errorf("the consent did not come back through /auth?code=…; documents: %v", tb.documentList())
	}
	if loc := eval[string](tb, "location", "location.href"); loc != h.URL+"/enter_streamer" {
		t.Errorf("after /auth the browser is on %s, want %s/enter_streamer", loc, h.URL)
	}
	followed := eval[[]string](tb, "followed channels", `[...document.querySelectorAll(".channel-list .channel")].map((b) =>
	  b.querySelector(".channel-name").textContent + (b.querySelector(".badge-live") ? " (live)" : ""))`)
	if got, want := strings.Join(followed, ", "), "NightOwl_TV (live), PixelPaladin (live), Speedy_Sam"; got != want {
		t.Errorf("the form suggests the followed channels %q, want %q (live first)", got, want)
	}
	tb.checkA11y("streamer form")
	tb.screenshot(shots, "enter_streamer.png", true)
	tb.step("3. authorized, back via /auth on /enter_streamer")

	// 4. An invalid name is refused with an error that is announced.
	tb.do("submit an invalid name", chromedp.SendKeys(css("#streamer"), "no!"),
		chromedp.Click(css(`form[action="/enter_streamer"] button[type=submit]`)), chromedp.WaitVisible(css("#streamer-error")))
	if msg := strings.TrimSpace(tb.textOf("#streamer-error")); msg == "" {
		t.Error("#streamer-error is empty")
	}
	if eval[string](tb, "role", `document.getElementById("streamer-error").getAttribute("role")`) != "alert" {
		t.Error(`#streamer-error lacks role="alert"`)
	}
	if !eval[bool](tb, "aria-invalid", `document.getElementById("streamer").getAttribute("aria-invalid") === "true" &&
	  document.getElementById("streamer").getAttribute("aria-describedby").split(" ").includes("streamer-error")`) {
		t.Error("#streamer is not aria-invalid or not described by #streamer-error")
	}
	tb.checkA11y("streamer form with an error")
	tb.step("4. invalid name refused: " + tb.textOf("#streamer-error"))

	// 5. The channel's link, pasted, leads to the stream page; its socket connects and the
	// feeds start. Sound and desktop notifications are off until the user turns them on.
	const pasted = "https://www.twitch.tv/" + streamer
	tb.do("paste "+pasted, chromedp.Clear(css("#streamer")), chromedp.SendKeys(css("#streamer"), pasted),
		chromedp.Click(css(`form[action="/enter_streamer"] button[type=submit]`)), chromedp.WaitVisible(css("#stream")))
	tb.wantText("#streamer-name", "CozyCrafter")
	tb.wantText("#live-badge", "Offline")
	tb.waitJS("the socket and all four feeds", feedsActiveJS)
	tb.wantText("#conn-state", "Connected")
	tb.wantText("#feeds-summary", "All 4 on")
	tb.checkAlertsOff()
	tb.checkA11y("stream")
	tb.step("5. pasted link → /stream: socket live, feeds on, alerts off")

	// 6. One event of each feed, each shown newest first; the header follows.
	fire(t, "lurker_lou follows", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Follow(ctx, "lurker_lou", streamer)
	})
	tb.waitNewest("channel.follow", "Lurker_Lou followed")
	fire(t, "go live", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.GoLive(ctx, streamer, "", "") })
	// Not yet "Went live: Cottage village, day 41": an offline channel's page does not know
	// its title (no Get Channel Information), and stream.online carries none.
	tb.waitNewest("stream.online", "Went live")
	tb.wantText("#live-badge", "Live")
	const title1 = "Cottage village, day 42: the windmill"
	fire(t, "title change", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.UpdateChannel(ctx, streamer, title1, "Minecraft")
	})
	tb.waitNewest("channel.update", "Title changed to "+title1+" · category Minecraft")
	tb.wantText("#stream-title", title1)
	tb.wantText("#stream-category", "· Minecraft")
	const bio = "Building tiny villages, one block at a time. Now with windmills."
	fire(t, "profile change", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.UpdateUser(ctx, streamer, bio) })
	tb.waitNewest("user.update", "Profile updated")
	tb.wantText("#streamer-description", bio)
	fire(t, "go offline", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.EndStream(ctx, streamer) })
	tb.waitNewest("stream.offline", "Stream ended")
	tb.wantText("#live-badge", "Offline")
	checkSequence(t, tb.events())
	tb.step("6. follow, live, title, profile, offline shown")

	// 7. The network drops; two events happen meanwhile; the page catches up.
	tb.disconnectAndCatchUp(h, proxy)

	// 7d. In the background, the tab title counts what arrived; back in front, it clears.
	tb.unreadInTitle(h)
	// 7e. Times age with the page's clock.
	tb.timesAge()
	// 7f. A drop so short the socket survives it.
	tb.briefOffline(h)

	// 8. Back live for the screenshots: desktop, a phone, the light theme.
	fire(t, "go live again", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.GoLive(ctx, streamer, "", "") })
	tb.waitNewest("stream.online", "Went live: Back from the break")
	if got := eval[string](tb, "title", "document.title"); got != "CozyCrafter · live · twitchrelay" {
		t.Errorf("tab title %q, want %q", got, "CozyCrafter · live · twitchrelay")
	}
	tb.checkA11y("stream with events")
	tb.screenshot(shots, "stream.png", false)
	tb.phone(shots)
	tb.colorScheme("light")
	tb.checkA11y("stream (light theme)")
	tb.screenshot(shots, "stream-light.png", false)
	tb.colorScheme("dark")
	tb.step("8. stream screenshots (desktop, phone, light)")

	// 9. Log out: the session's subscriptions are deleted on Twitch.
	if n := len(h.Sim.Subscriptions()); websocket && n != 0 {
		t.Errorf("the websocket run made %d webhook subscriptions, want none", n)
	}
	tb.logout(h)

	if ex := tb.exceptions(); len(ex) > 0 {
		t.Errorf("the pages threw %d uncaught exceptions: %v", len(ex), ex)
	}
}

// disconnectAndCatchUp cuts the stream socket at the network, fires two events while the
// page has no socket, restores the network and checks the page shows both, once, in order.
func (tb *tab) disconnectAndCatchUp(h *apptest.Harness, proxy *cutProxy) {
	t := tb.t
	t.Helper()
	before := tb.events()
	if n := proxy.Cut(); n != 1 {
		t.Fatalf("the network cut dropped %d stream sockets, want the page's one", n)
	}
	tb.waitJS("the page to notice the drop", `document.getElementById("conn-state").dataset.state === "reconnecting"`)
	apptest.Wait(t, waitTimeout, "the relay to drop the socket", func() bool { return h.App.Hub.Stats().Subscribers == 0 })
	tb.step("7a. network cut: page reconnecting, relay has no socket")

	fire(t, "chatterbox42 follows (offline)", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Follow(ctx, "chatterbox42", streamer)
	})
	const title2 = "Back from the break"
	fire(t, "title change (offline)", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.UpdateChannel(ctx, streamer, title2, "")
	})
	apptest.Wait(t, waitTimeout, "the page to retry against the dead network", func() bool { return proxy.Refused() > 0 })
	if got := tb.events(); len(got) != len(before) {
		t.Fatalf("the page showed events while it had no socket:%s", texts(got))
	}
	refused := proxy.Restore()
	tb.step("7b. two events fired while disconnected; network back")

	tb.waitJS("the socket to come back", `document.getElementById("conn-state").dataset.state === "live"`)
	tb.wantText("#conn-state", "Connected")
	tb.waitJS("both missed events", `document.querySelectorAll("#events li.event").length >= `+strconv.Itoa(len(before)+2))
	after := tb.events()
	checkSequence(t, after)
	want := []pageEvent{
		{Type: "channel.update", Text: "Title changed to " + title2 + " · category Minecraft"},
		{Type: "channel.follow", Text: "Chatterbox42 followed"},
	}
	if len(after) != len(before)+2 {
		t.Fatalf("after the reconnect the page shows %d events, want %d:%s", len(after), len(before)+2, texts(after))
	}
	for i, w := range want {
		if after[i].Type != w.Type || after[i].Text != w.Text {
			t.Errorf("event #%d after the reconnect is %s %q, want %s %q", i, after[i].Type, after[i].Text, w.Type, w.Text)
		}
	}
	tb.wantText("#stream-title", title2)
	tb.step("7c. reconnected (" + strconv.Itoa(refused) + " attempts refused): both events, once, in order")
}

// phone checks the stream page on a 390×844 phone: nothing overflows sideways; it saves a
// full-page screenshot.
func (tb *tab) phone(shots string) {
	t := tb.t
	t.Helper()
	tb.do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	tb.pageWidth(390)
	tb.waitJS("the phone layout", `!document.getElementById("player-box").open`)
	for _, p := range eval[[]string](tb, "overflow", overflowJS) {
		t.Errorf("phone (390px): horizontal overflow: %s", p)
	}
	tb.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	if where := eval[string](tb, "newest event in view", newestInViewJS); where != "" {
		t.Errorf("phone (390px): the newest event is not on the first screen: %s", where)
	}
	if eval[bool](tb, "folded panels", `document.getElementById("feeds-box").open`) {
		t.Error("phone (390px): the feeds panel is open; want its one-line summary")
	}
	tb.checkA11y("stream (phone)")
	tb.screenshot(shots, "stream-mobile.png", true)
	tb.do("back to the desktop", chromedp.EmulateViewport(desktopW, desktopH))
}

// logout clicks "Log out" and waits until the simulator has no subscription left for the
// session's callbacks.
func (tb *tab) logout(h *apptest.Harness) {
	t := tb.t
	t.Helper()
	prefix := h.URL + "/callback/"
	ours := func() (n int) {
		for _, s := range h.Sim.Subscriptions() {
			if strings.HasPrefix(s.Transport.Callback, prefix) {
				n++
			}
		}
		for _, s := range h.Sim.WSSubscriptions() { // the websocket run's, on the user's own session
			if s.Status == "enabled" {
				n++
			}
		}
		return n
	}
	before := ours()
	if before == 0 {
		t.Fatal("before logout the simulator has no subscription for the session")
	}
	tb.do("log out", chromedp.Click(css(`form[action="/logout"] button[type=submit]`)), chromedp.WaitVisible(css("a.btn-twitch")))
	if loc := eval[string](tb, "location", "location.href"); loc != h.URL+"/" {
		t.Errorf("after logout the browser is on %s, want the landing page", loc)
	}
	apptest.Wait(t, waitTimeout, "the session's subscriptions to be deleted", func() bool { return ours() == 0 })
	tb.step("9. logged out: " + strconv.Itoa(before) + " subscriptions deleted on Twitch")
}
