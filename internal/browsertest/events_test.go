package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// css is a CSS selector for chromedp's element actions.
func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// fire makes something happen on (simulated) Twitch and checks it was delivered to a
// subscription, signed and answered 2xx, before the test looks at the page.
func fire(t *testing.T, what string, trigger func(ctx context.Context) ([]twitchsim.Delivery, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := trigger(ctx)
	if err != nil {
		t.Fatalf("simulator: %s: %v", what, err)
	}
	delivered := 0
	for _, d := range ds {
		if d.MessageType != "notification" {
			continue
		}
		if d.Err != nil {
			t.Fatalf("simulator: %s: delivery to %s failed: %v (status %d)", what, d.Callback, d.Err, d.Status)
		}
		delivered++
	}
	if delivered == 0 {
		t.Fatalf("simulator: %s: no subscription received it (deliveries %+v)", what, ds)
	}
}

// pageEvent is one li.event of #events as the page shows it.
type pageEvent struct {
	Seq  int    `json:"seq"`
	Type string `json:"type"`
	Text string `json:"text"`
}

const pageEventsJS = `[...document.querySelectorAll("#events li.event")].map((li) => ({
  seq: Number(li.dataset.seq), type: li.dataset.type, text: li.querySelector(".event-text").textContent }))`

// events returns the page's events in page order (newest first).
func (tb *tab) events() []pageEvent {
	tb.t.Helper()
	return eval[[]pageEvent](tb, "read #events", pageEventsJS)
}

// waitNewest waits until the newest event on the page has this type and its text starts
// with want.
func (tb *tab) waitNewest(typ, want string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("newest event %s %q", typ, want), fmt.Sprintf(
		`(() => { const li = document.querySelector("#events li.event");
		  return !!li && li.dataset.type === %s && li.querySelector(".event-text").textContent.startsWith(%s); })()`,
		jsString(typ), jsString(want)))
}

// checkSequence checks the page's events: sequence numbers strictly decreasing down the
// list (newest first: in order, no duplicates) and no text shown twice.
func checkSequence(t *testing.T, evs []pageEvent) {
	t.Helper()
	seen := map[string]bool{}
	for i, ev := range evs {
		if i > 0 && ev.Seq >= evs[i-1].Seq {
			t.Errorf("events out of order or duplicated: #%d has seq %d after seq %d (newest first)", i, ev.Seq, evs[i-1].Seq)
		}
		if seen[ev.Text] {
			t.Errorf("event %q is shown twice", ev.Text)
		}
		seen[ev.Text] = true
	}
}

// texts lists the event texts, for failure messages.
func texts(evs []pageEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  seq %d %s: %s", ev.Seq, ev.Type, ev.Text)
	}
	return b.String()
}

// textOf is the textContent of the first element matching sel ("" if there is none).
func (tb *tab) textOf(sel string) string {
	tb.t.Helper()
	return eval[string](tb, "read "+sel, fmt.Sprintf(`document.querySelector(%s)?.textContent ?? ""`, jsString(sel)))
}

// wantText checks an element's text.
func (tb *tab) wantText(sel, want string) {
	tb.t.Helper()
	if got := strings.TrimSpace(tb.textOf(sel)); got != want {
		tb.t.Errorf("%s shows %q, want %q", sel, got, want)
	}
}

// feedsActiveJS holds when the socket is live and all six feeds are active (chat highlights
// over the viewer's own Twitch WebSocket session).
const feedsActiveJS = `document.getElementById("conn-state").dataset.state === "live" &&
  document.querySelectorAll("#feeds li.feed").length === 6 &&
  [...document.querySelectorAll("#feeds li.feed")].every((li) => li.dataset.status === "active")`

// loginAndWatch logs in through the consent page as login and opens login's own stream
// page, waiting until its socket is live and every feed is active.
func (tb *tab) loginAndWatch(base, login string) {
	tb.t.Helper()
	tb.do("log in as "+login+" and watch "+login,
		chromedp.Navigate(base+"/"), chromedp.Click(css("a.btn-twitch")),
		chromedp.Click(css("#user-"+login)), chromedp.Click(css(`button[name=action][value=authorize]`)),
		chromedp.WaitVisible(css("#streamer")), chromedp.SendKeys(css("#streamer"), login),
		chromedp.Click(css(`form[action="/enter_streamer"] button[type=submit]`)), chromedp.WaitVisible(css("#stream")))
	tb.waitJS("the socket and every feed", feedsActiveJS)
}

// waitFrame waits until a predicate holds, checking it every animation frame (for state
// that does not show in the DOM, such as window properties).
func (tb *tab) waitFrame(what, predicate string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(waitTimeout)))
	mustf(tb.t, err, "waiting for %s (%s)", what, predicate)
}
