package browsertest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// newestInViewJS is "" when the newest event's row is inside the viewport without scrolling,
// else where it is.
const newestInViewJS = `(() => {
  const li = document.querySelector("#events li.event");
  if (!li) return "no event on the page";
  const r = li.getBoundingClientRect();
  return window.scrollY === 0 && r.top >= 0 && r.bottom <= window.innerHeight ? "" :
    "row spans y=" + Math.round(r.top) + "…" + Math.round(r.bottom) + ", viewport height " + window.innerHeight + ", scrollY " + window.scrollY;
})()`

// checkAlertsOff: a page nobody configured plays no sound and asks for no notification.
func (tb *tab) checkAlertsOff() {
	t := tb.t
	t.Helper()
	got := eval[map[string]any](tb, "alert settings", `({
	  sound: document.getElementById("opt-sound").checked, notify: document.getElementById("opt-notify").checked,
	  stored: [localStorage.getItem("twitchrelay.sound"), localStorage.getItem("twitchrelay.notify")].filter(Boolean).join(","),
	  permission: "Notification" in window ? Notification.permission : "unsupported" })`)
	if got["sound"] != false || got["notify"] != false || got["stored"] != "" {
		t.Errorf("alerts on a fresh page: %v, want sound and notifications off and nothing stored", got)
	}
	if p := got["permission"]; p != "default" && p != "unsupported" {
		t.Errorf("the page asked for notification permission (%v) before the user turned them on", p)
	}
}

// briefOffline is a drop the socket survives: the browser says "offline", then "online",
// and events keep coming on the same socket. The pill must not stay on "offline".
func (tb *tab) briefOffline(h *apptest.Harness) {
	t := tb.t
	t.Helper()
	tb.do("the browser goes offline", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("offline"))`))
	tb.waitJS("the pill to say offline", `document.getElementById("conn-state").dataset.state === "offline"`)
	fire(t, "speedy_sam follows", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Follow(ctx, "speedy_sam", streamer)
	})
	tb.waitNewest("channel.follow", "Speedy_Sam followed")
	tb.waitJS("the pill to follow the socket back", `document.getElementById("conn-state").dataset.state === "live"`)
	tb.wantText("#conn-state", "Connected")
	tb.step("7f. brief offline: pill back to Connected when the socket speaks")
}

// unreadInTitle sends the tab to the background (the window loses focus), has two people
// follow, and checks the title counts them; focus clears the count.
func (tb *tab) unreadInTitle(h *apptest.Harness) {
	t := tb.t
	t.Helper()
	const base = "CozyCrafter · offline · twitchrelay"
	if got := eval[string](tb, "title", "document.title"); got != base {
		t.Errorf("tab title %q, want %q", got, base)
	}
	tb.do("the window loses focus", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("blur"))`))
	for _, who := range []string{"gamergrace", "h4x0r"} {
		fire(t, who+" follows", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.Follow(ctx, who, streamer) })
	}
	tb.waitFrame("the title to count 2 unread", `document.title === "(2) `+base+`"`)
	tb.do("the window gets focus back", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("focus"))`))
	tb.waitFrame("the title to clear", `document.title === "`+base+`"`)
	tb.step("7d. tab title: (2) unread in the background, cleared on focus")
}

// timesAge moves the page's clock on and checks the newest row's time reads "3 min ago",
// then a date once it is not today; the exact time stays on hover.
func (tb *tab) timesAge() {
	t := tb.t
	t.Helper()
	newest := `document.querySelector("#events li.event time")`
	if got := tb.textOf("#events li.event time"); got != "just now" {
		t.Errorf("the newest event's time reads %q, want %q", got, "just now")
	}
	shift := func(ms int64) {
		tb.do("move the page's clock", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		  window.__realNow ||= Date.now.bind(Date);
		  Date.now = () => window.__realNow() + %d;
		  window.dispatchEvent(new Event("focus")); })()`, ms)))
	}
	shift(3 * 60 * 1000)
	tb.waitFrame("3 min ago", newest+`.textContent === "3 min ago"`)
	shift(2 * 24 * 3600 * 1000)
	tb.waitFrame("a date", newest+`.textContent !== "3 min ago"`)
	got := tb.textOf("#events li.event time")
	if !regexp.MustCompile(`\d.*, \d`).MatchString(got) {
		t.Errorf("two days later the newest event's time reads %q, want a date and a time", got)
	}
	if hover := eval[string](tb, "title", newest+`.title`); !regexp.MustCompile(`\d{1,2}:\d{2}:\d{2}`).MatchString(hover) {
		t.Errorf("the time's hover text %q has no exact time", hover)
	}
	shift(0)
	tb.waitFrame("just now again", newest+`.textContent === "just now"`)
	tb.step("7e. times age: just now → 3 min ago → " + got)
}

// A 25-character name and a 140-character title fit a phone: nothing scrolls sideways, the
// LIVE badge stays on the title's line, and the title takes at most three lines in the list.
func TestLongNamesFitAPhone(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	tb := newTab(t)
	tb.loginAndWatch(h.URL, streamer)
	title := strings.Repeat("Very long title words ", 7)[:140]
	fire(t, "go live", func(ctx context.Context) ([]twitchsim.Delivery, error) { return h.Sim.GoLive(ctx, streamer, "", "") })
	fire(t, "a 140-character title", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.UpdateChannel(ctx, streamer, title, "Minecraft")
	})
	tb.waitNewest("channel.update", "Title changed to "+title)
	// Twitch allows 25 characters in a display name; the simulator's are shorter.
	const long = "Abcdefghijklmnopqrstuvwxy"
	tb.do("a 25-character display name", chromedp.Evaluate[chromedp.Void](`document.getElementById("streamer-name").textContent = "`+long+`";
	  document.querySelector(".me-name").textContent = "`+long+`";`))
	for _, w := range []int64{390, 320} {
		tb.do("emulate a phone", chromedp.EmulateViewport(w, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		tb.pageWidth(w)
		for _, p := range eval[[]string](tb, "overflow", overflowJS) {
			t.Errorf("phone (%dpx): horizontal overflow: %s", w, p)
		}
		badge := eval[map[string]float64](tb, "badge and title", `(() => {
		  const b = document.getElementById("live-badge").getBoundingClientRect();
		  const t = document.getElementById("stream-title").getClientRects()[0];
		  const e = document.querySelector("#events li.event .event-text");
		  return { badge: b.top + b.height / 2, titleTop: t.top, titleBottom: t.bottom,
		    lines: e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight) }; })()`)
		if mid := badge["badge"]; mid < badge["titleTop"] || mid > badge["titleBottom"] {
			t.Errorf("phone (%dpx): the LIVE badge (middle at y=%.0f) is not on the title's first line (y=%.0f…%.0f)", w, mid, badge["titleTop"], badge["titleBottom"])
		}
		if l := badge["lines"]; l > 3.2 {
			t.Errorf("phone (%dpx): the title change takes %.1f lines in the events list, want at most 3", w, l)
		}
	}
	tb.checkA11y("stream with long names (phone)")
}

// pageWidth checks the page lays out at the phone's width: a phone browser widens the layout
// to content that does not fit (the page then scrolls sideways, zoomed out).
func (tb *tab) pageWidth(w int64) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(`window.innerWidth === %d`, w), chromedp.WithPollingTimeout(2*time.Second)))
	if got := eval[int64](tb, "width", `Math.max(window.innerWidth, document.documentElement.scrollWidth)`); got != w {
		tb.t.Errorf("phone (%dpx): the page is %d px wide: it scrolls sideways", w, got)
	}
}

// A restart that keeps the sessions (Redis): the page reconnects, resumes, and the pill
// says Connected again.
func TestPillReturnsAfterRestart(t *testing.T) {
	h := apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t)})
	tb := newTab(t)
	tb.loginAndWatch(h.URL, streamer)
	h = h.Restart()
	tb.waitJS("the page to reconnect after the restart", `document.getElementById("conn-state").dataset.state === "live"`)
	tb.wantText("#conn-state", "Connected")
	fire(t, "lurker_lou follows", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Follow(ctx, "lurker_lou", streamer)
	})
	tb.waitNewest("channel.follow", "Lurker_Lou followed")
	tb.wantText("#conn-state", "Connected")
}

// A restart that loses the sessions (memory mode): one "your session ended" state — no
// account in the top bar, feeds stopped, a button to log in again — and a reload lands on
// the landing page, which says why.
func TestSessionEndedState(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	tb := newTab(t)
	tb.loginAndWatch(h.URL, streamer)
	h = h.Restart()
	tb.waitJS("the session-ended state", `document.getElementById("conn-state").dataset.state === "ended" &&
	  !document.getElementById("session-ended").hidden`)
	tb.wantText("#conn-state", "Session ended")
	tb.wantText("#session-ended h2", "Your session has ended")
	if got := eval[string](tb, "role", `document.getElementById("session-ended").getAttribute("role")`); got != "alert" {
		t.Errorf(`#session-ended has role %q, want "alert"`, got)
	}
	if eval[bool](tb, "top bar", `!!document.querySelector(".topnav") && !document.querySelector(".topnav").closest("[hidden]")`) {
		t.Error("the top bar still shows the account and Log out after the session ended")
	}
	if got := eval[[]string](tb, "feeds", `[...document.querySelectorAll("#feeds .status")].map((s) => s.textContent)`); strings.Join(got, ",") != "Stopped,Stopped,Stopped,Stopped,Stopped,Stopped" {
		t.Errorf("feeds after the session ended: %v, want all Stopped", got)
	}
	tb.wantText("#feeds-summary", "Stopped: your session ended")
	if href := eval[string](tb, "button", `document.getElementById("login-again").getAttribute("href")`); href != "/login" {
		t.Errorf("Log in again goes to %q, want /login", href)
	}
	tb.checkA11y("stream (session ended)")

	tb.do("reload", chromedp.Reload(), chromedp.WaitVisible(css("a.btn-twitch")))
	if loc := eval[string](tb, "location", "location.href"); loc != h.URL+"/?ended=1" {
		t.Errorf("the reload landed on %s, want %s/?ended=1", loc, h.URL)
	}
	if got := tb.textOf(".notice-box"); !strings.Contains(got, "Your session ended") {
		t.Errorf("the landing page says %q, want why the user is logged out", got)
	}
	tb.checkA11y("landing (session ended)")
	tb.do("log in again", chromedp.Click(css("a.btn-twitch")), chromedp.WaitVisible(css("#user-"+streamer)))
}
