package browsertest

import (
	"context"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Markup an attacker could put in a Twitch title or description: as text it is harmless;
// parsed as HTML, either part sets window.__xss.
const (
	xssImg    = `<img src=x onerror="window.__xss=1">`
	xssScript = `<script>window.__xss=1</script>`
)

// TestUntrustedTextAndCSP checks that text from Twitch reaches the page as text, live and
// when the page is rendered by the server, and that the Content-Security-Policy blocks
// inline script even if markup did get in.
func TestUntrustedTextAndCSP(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	tb := newTab(t)
	tb.loginAndWatch(h.URL, "nightowl_tv")
	// The seeded title carries markup characters on purpose.
	tb.wantText("#stream-title", `Late night <chat> & "chill" 🦉`)
	tb.step("logged in, watching nightowl_tv")

	title := "Tonight " + xssImg + xssScript
	desc := "About me " + xssScript + xssImg
	fire(t, "title with markup", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.UpdateChannel(ctx, "nightowl_tv", title, "")
	})
	tb.waitNewest("channel.update", "Title changed to "+title)
	fire(t, "description with markup", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.UpdateUser(ctx, "nightowl_tv", desc)
	})
	tb.waitNewest("user.update", "Profile updated")
	tb.checkInert("live events", title, desc)
	tb.step("markup from live events shown as text")

	tb.do("reload the stream page", chromedp.Reload(), chromedp.WaitVisible(css("#stream")))
	tb.waitJS("the socket and every feed", feedsActiveJS)
	tb.waitNewest("user.update", "Profile updated") // the kept history comes back
	tb.checkInert("server-rendered page", title, desc)
	tb.step("markup from the server-rendered page shown as text")

	// Markup that did get into the DOM still cannot run: CSP has no 'unsafe-inline'.
	tb.do("inject inline script", chromedp.Evaluate[chromedp.Void](`
	  window.__violations = [];
	  document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.effectiveDirective + " " + e.blockedURI));
	  const s = document.createElement("script");
	  s.textContent = "window.__cspInline = 1";
	  document.body.append(s);
	  document.body.insertAdjacentHTML("beforeend", '<img alt="" src="/static/no-such-image.png" onerror="window.__cspHandler = 1">');`))
	tb.waitFrame("CSP violation reports for the script and the handler", `window.__violations.length >= 2`)
	if ran := eval[bool](tb, "inline flags", `window.__cspInline !== undefined || window.__cspHandler !== undefined`); ran {
		t.Error("an injected inline script or event handler ran despite the CSP")
	}
	t.Logf("CSP violations reported: %v", eval[[]string](tb, "violations", `window.__violations`))
	tb.step("CSP blocked inline script and inline handler")

	// The error page, too, meets the basics.
	for _, path := range []string{"/no-such-page", "/auth?code=x&state=forged"} {
		resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(h.URL+path))
		mustf(t, err, "open %s", path)
		if resp.Status < http.StatusBadRequest {
			t.Errorf("%s answered %d, want an error status", path, resp.Status)
		}
		tb.checkA11y("error (" + path + ")")
	}
	tb.step("error pages")
	if ex := tb.exceptions(); len(ex) > 0 {
		t.Errorf("the pages threw %d uncaught exceptions: %v", len(ex), ex)
	}
}

// checkInert checks the title and description are shown literally and nothing ran.
func (tb *tab) checkInert(where, title, desc string) {
	tb.t.Helper()
	tb.wantText("#stream-title", title)
	tb.wantText("#streamer-description", desc)
	if n := eval[int](tb, "injected nodes", `document.querySelectorAll("#stream img[src=x], #stream script").length`); n != 0 {
		tb.t.Errorf("%s: %d <img src=x> or <script> elements made it into #stream", where, n)
	}
	if eval[bool](tb, "window.__xss", `window.__xss !== undefined`) {
		tb.t.Errorf("%s: the injected markup ran (window.__xss is set)", where)
	}
}
