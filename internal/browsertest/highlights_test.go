package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Chat highlights come over the viewer's own Twitch WebSocket session: the reader is a plain
// viewer (no bot scopes, moderates nobody) in webhook mode, so raids come over a shared
// webhook and chat notices over the reader's session, side by side.
const (
	reader  = "quietquinn"
	watched = "pixelpaladin"
)

func startHighlights(t *testing.T) (*apptest.Harness, *cutProxy) {
	t.Helper()
	return startBehindProxy(t, false)
}

// loginAndWatchAs logs in as login and opens streamer's page, waiting until the socket is
// live and raids and chat highlights are active.
func (tb *tab) loginAndWatchAs(base, login, streamer string) {
	tb.t.Helper()
	tb.do("log in as "+login+" and watch "+streamer,
		chromedp.Navigate(base+"/"), chromedp.Click(css("a.btn-twitch")),
		chromedp.Click(css("#user-"+login)), chromedp.Click(css(`button[name=action][value=authorize]`)),
		chromedp.WaitVisible(css("#streamer")), chromedp.SendKeys(css("#streamer"), streamer),
		chromedp.Click(css(`form[action="/enter_streamer"] button[type=submit]`)), chromedp.WaitVisible(css("#stream")))
	tb.waitJS("the socket, raids and chat highlights", `document.getElementById("conn-state").dataset.state === "live" &&
	  document.querySelector('#feeds li.feed[data-feed="raids"]')?.dataset.status === "active" &&
	  document.querySelector('#feeds li.feed[data-feed="chat_highlights"]')?.dataset.status === "active" &&
	  !document.querySelector('#feeds li.feed[data-status="pending"]')`)
}

// newestNotice is the newest row of a notice type: its headline, chips, quoted message, the
// HTML elements inside the quote (none may exist) and its classes.
type noticeRow struct {
	Text, Message, Class string
	Chips                []string
	Elements             int
}

func (tb *tab) newestNotice(notice string) noticeRow {
	tb.t.Helper()
	sel := `#events li.event[data-notice="` + notice + `"]`
	tb.waitJS("a "+notice+" row", `!!document.querySelector(`+jsString(sel)+`)`)
	return eval[noticeRow](tb, notice+" row", `(() => { const li = document.querySelector(`+jsString(sel)+`);
	  const q = li.querySelector(".chat-message");
	  return { text: li.querySelector(".event-text").textContent, message: q ? q.textContent : "", class: li.className,
	    chips: [...li.querySelectorAll(".chip")].map((c) => c.textContent), elements: q ? q.querySelectorAll("*").length : 0 }; })()`)
}

// TestChatHighlights: a raid, a sub, a resub whose message carries HTML (shown as text), an
// anonymous gift, a community gift of 50 grouped into one expandable entry, an announcement
// in its colour; the counters add up; the filters hide and show a feed and are remembered.
func TestChatHighlights(t *testing.T) {
	h, _ := startHighlights(t)
	tb := newTab(t)
	tb.loginAndWatchAs(h.URL, reader, watched)
	tb.wantText("#counters", "Nothing yet since you opened this page.")
	checkChatOverWebSocket(t, h)

	fire(t, "nightowl_tv raids", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Raid(ctx, "nightowl_tv", watched)
	})
	tb.waitNewest("channel.raid", "NightOwl_TV raided with ")
	// The raid also arrives as a chat notice: one row, in both feeds, counted once.
	tb.waitJS("the raid in both feeds", `document.querySelector('#events li[data-type="channel.raid"]').dataset.feeds === "raids chat_highlights"`)
	raid := eval[map[string]any](tb, "raid row", `({ text: document.querySelector('#events li.event .event-text').textContent,
	  rows: document.querySelectorAll("#events li.event").length, chips: [...document.querySelectorAll("#events li.event .chip")].map((c) => c.textContent).join("|") })`)
	if text := raid["text"].(string); !strings.HasSuffix(text, " viewers") || raid["rows"] != 1.0 || !strings.HasSuffix(raid["chips"].(string), " viewers") {
		t.Errorf("raid %v, want one row \"NightOwl_TV raided with N viewers\" with the viewers as a chip", raid)
	}
	tb.wantText("#counters", "1 raid since you opened this page")

	fire(t, "h4x0r subscribes", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Subscribe(ctx, "h4x0r", watched, "2000", false)
	})
	if r := tb.newestNotice("sub"); r.Text != "h4x0r subscribed at Tier 2" || strings.Join(r.Chips, "|") != "Tier 2" {
		t.Errorf("sub row %+v, want \"h4x0r subscribed at Tier 2\" with the chip Tier 2", r)
	}

	const html = `<img src=x onerror="window.__xss=1"><b>bold</b> Kappa & <script>window.__xss=2</script>`
	fire(t, "chatterbox42 resubscribes with HTML", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Resubscribe(ctx, "chatterbox42", watched, html, true)
	})
	r := tb.newestNotice("resub")
	if r.Text != "Chatterbox42 resubscribed at Tier 1: 12 months, 5 in a row" || r.Message != html || r.Elements != 0 {
		t.Errorf("resub row %+v, want the months and the message as text, no elements", r)
	}
	if got := strings.Join(r.Chips, "|"); got != "Tier 1|12 months|5 in a row" {
		t.Errorf("resub chips %q", got)
	}
	if eval[bool](tb, "no script ran", `window.__xss !== undefined || !!document.querySelector("#events img:not(.avatar), #events b, #events script")`) {
		t.Error("HTML from Twitch was rendered as HTML")
	}

	fire(t, "an anonymous gift", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.GiftSub(ctx, "", watched, "gamergrace", "1000")
	})
	if r := tb.newestNotice("sub_gift"); r.Text != "An anonymous gifter gifted a Tier 1 sub to GamerGrace" {
		t.Errorf("anonymous gift reads %q", r.Text)
	}

	before := len(tb.events())
	fire(t, "a community gift of 50", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.CommunityGift(ctx, "modmaria", watched, 50, "1000")
	})
	tb.waitJS("the gift bomb complete", `(() => { const g = document.querySelector("#events li.gift-bomb");
	  return !!g && g.querySelectorAll(".gift-recipients li").length === 50; })()`)
	bomb := eval[map[string]any](tb, "gift bomb", `(() => { const g = document.querySelector("#events li.gift-bomb");
	  return { text: g.querySelector(".event-text").textContent, rows: document.querySelectorAll("#events li.event").length,
	    groups: document.querySelectorAll("#events li.gift-bomb").length, open: g.querySelector("details").open,
	    names: new Set([...g.querySelectorAll(".gift-recipients li")].map((li) => li.textContent)).size,
	    chips: [...g.querySelectorAll(".chip")].map((c) => c.textContent).join("|") }; })()`)
	if bomb["text"] != "50 gifted subs by ModMaria" || bomb["groups"] != 1.0 || bomb["rows"] != float64(before+1) ||
		bomb["names"] != 50.0 || bomb["open"] != false || bomb["chips"] != "Tier 1" {
		t.Errorf("gift bomb %v, want one closed entry \"50 gifted subs by ModMaria\" (Tier 1) with 50 different recipients, %d rows in all", bomb, before+1)
	}
	tb.do("expand the gift bomb", chromedp.Click(css("#events li.gift-bomb .gift-recipients summary")))
	if !eval[bool](tb, "expanded", `document.querySelector("#events li.gift-bomb details").open &&
	  document.querySelector("#events li.gift-bomb .gift-recipients li").getBoundingClientRect().height > 0`) {
		t.Error("the gift bomb's recipients do not unfold")
	}

	fire(t, "an announcement", func(ctx context.Context) ([]twitchsim.Delivery, error) {
		return h.Sim.Announce(ctx, watched, watched, "Giveaway <b>now</b>!", "PURPLE")
	})
	a := tb.newestNotice("announcement")
	if a.Text != "from PixelPaladin" || a.Message != "Giveaway <b>now</b>!" || !strings.Contains(a.Class, "announce-purple") || a.Elements != 0 {
		t.Errorf("announcement row %+v, want its text as text in purple", a)
	}
	bar := eval[string](tb, "announcement colour", `getComputedStyle(document.querySelector('#events li[data-notice="announcement"]')).borderLeftColor`)
	if bar == eval[string](tb, "raid row border", `getComputedStyle(document.querySelector('#events li[data-type="channel.raid"]')).borderLeftColor`) {
		t.Errorf("the announcement has no colour of its own (border %s)", bar)
	}

	tb.wantText("#counters", "2 subs · 51 gifted subs · 1 raid · 1 announcement since you opened this page")
	tb.wantText(`#filters [data-count-for="`+relay.FeedRaids+`"]`, "1")
	tb.wantText(`#filters [data-count-for="`+relay.FeedChatHighlights+`"]`, "6")
	tb.checkA11y("stream with chat highlights")
	tb.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	tb.screenshot(screenshotDir(t), "stream-highlights.png", true)

	// Filters: hiding chat highlights leaves only the raid; the choice survives a reload.
	visible := func() string {
		return eval[string](tb, "visible rows", `[...document.querySelectorAll("#events li.event")].filter((li) => li.offsetParent !== null).map((li) => li.dataset.feed).join(" ")`)
	}
	tb.do("hide chat highlights", chromedp.Click(css(`#filters input[data-filter="chat_highlights"]`)))
	if got := visible(); got != "raids" {
		t.Errorf("with chat highlights hidden the page shows %q, want only the raid", got)
	}
	tb.do("hide raids too", chromedp.Click(css(`#filters input[data-filter="raids"]`)))
	if got := visible(); got != "" {
		t.Errorf("with raids and chat highlights hidden the page shows %q, want nothing", got)
	}
	tb.wantText("#events-empty", "Every event so far is in a feed you hid.")
	tb.do("show raids", chromedp.Click(css(`#filters input[data-filter="raids"]`)))
	tb.do("reload", chromedp.Reload(), chromedp.WaitVisible(css("#stream")))
	tb.waitJS("the history back", `document.querySelectorAll("#events li.event").length >= 6`)
	if eval[bool](tb, "filter remembered", `document.querySelector('#filters input[data-filter="chat_highlights"]').checked`) {
		t.Error("the hidden feed is shown again after a reload")
	}
	if got := visible(); got != "raids" {
		t.Errorf("after the reload the page shows %q, want only the raid", got)
	}
	tb.do("show chat highlights", chromedp.Click(css(`#filters input[data-filter="chat_highlights"]`)))
	if got := visible(); got != "chat_highlights chat_highlights chat_highlights chat_highlights chat_highlights raids" {
		t.Errorf("with chat highlights shown again the page shows %q, want 5 chat highlights and the raid, newest first", got)
	}
	if n := eval[float64](tb, "groups after reload", `document.querySelectorAll("#events li.gift-bomb").length`); n != 1 {
		t.Errorf("%v gift bomb entries after the reload (history), want 1", n)
	}
	if ex := tb.exceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %v", ex)
	}
}

// TestGiftBombReconnect: the network drops in the middle of a community gift of 50; the page
// resumes and shows one entry with all 50 recipients, none twice, nothing lost.
func TestGiftBombReconnect(t *testing.T) {
	h, proxy := startHighlights(t)
	tb := newTab(t)
	tb.loginAndWatchAs(h.URL, reader, watched)

	resume := h.Sim.PauseDeliveries(1 + 20) // the summary and 20 gifts, then hold
	defer resume()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := h.Sim.CommunityGift(ctx, "", watched, 50, "3000")
		done <- err
	}()
	tb.waitJS("20 of 50 gifts shown", `document.querySelectorAll("#events li.gift-bomb .gift-recipients li").length === 20`)
	if n := proxy.Cut(); n != 1 {
		t.Fatalf("the cut dropped %d sockets, want 1", n)
	}
	tb.waitJS("the page to notice the drop", `document.getElementById("conn-state").dataset.state === "reconnecting"`)
	apptest.Wait(t, waitTimeout, "the relay to drop the socket", func() bool { return h.App.Hub.Stats().Subscribers == 0 })
	resume()
	if err := <-done; err != nil {
		t.Fatalf("community gift: %v", err)
	}
	proxy.Restore()
	tb.waitJS("the socket back", `document.getElementById("conn-state").dataset.state === "live"`)
	tb.waitJS("all 50 gifts", `document.querySelectorAll("#events li.gift-bomb .gift-recipients li").length >= 50`)
	got := eval[map[string]any](tb, "gift bomb", `(() => { const g = document.querySelector("#events li.gift-bomb");
	  const names = [...g.querySelectorAll(".gift-recipients li")].map((li) => li.textContent);
	  return { text: g.querySelector(".event-text").textContent, groups: document.querySelectorAll("#events li.gift-bomb").length,
	    rows: document.querySelectorAll("#events li.event").length, names: names.length, distinct: new Set(names).size,
	    counters: document.getElementById("counters").textContent }; })()`)
	want := map[string]any{"text": "50 gifted subs by An anonymous gifter", "groups": 1.0, "rows": 1.0, "names": 50.0, "distinct": 50.0,
		"counters": "50 gifted subs since you opened this page"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the reconnect: %v, want %v", got, want)
	}
}

// checkChatOverWebSocket: the reader's chat notification subscription is on the reader's own
// Twitch WebSocket session, made with the reader's token, and none exists over webhook.
func checkChatOverWebSocket(t *testing.T, h *apptest.Harness) {
	t.Helper()
	r, _ := h.Sim.User(reader)
	b, _ := h.Sim.User(watched)
	n := 0
	for _, s := range h.Sim.WSSubscriptions() {
		if s.Type == eventsub.TypeChatNotification && s.Status == eventsub.StatusEnabled {
			n++
			if s.Condition["user_id"] != r.ID || s.Condition["broadcaster_user_id"] != b.ID {
				t.Errorf("chat notification condition %v, want the reader %s in %s's chat", s.Condition, r.ID, b.ID)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d enabled chat notification subscriptions over websocket, want 1", n)
	}
	for _, s := range h.Sim.Subscriptions() {
		if s.Type == eventsub.TypeChatNotification {
			t.Errorf("a chat notification subscription over webhook: %+v", s)
		}
	}
}
