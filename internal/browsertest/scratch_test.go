package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/apptest"
)

func TestScratch(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	tb := newTab(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	tb.do("landing", chromedp.Navigate(h.URL+"/"), chromedp.WaitVisible(css("h1")))
	tb.step("landing")
	tb.do("login", chromedp.Click(css(`a[href="/login"]`)), chromedp.WaitVisible(css(`#user-nightowl_tv`)))
	tb.step("authorize")
	tb.do("consent", chromedp.Click(css(`#user-nightowl_tv`)), chromedp.Click(css(`button[value=authorize]`)), chromedp.WaitVisible(css(`#streamer`)))
	tb.step("form")
	tb.do("streamer", chromedp.SendKeys(css(`#streamer`), "nightowl_tv"), chromedp.Submit(css(`#streamer`)), chromedp.WaitVisible(css(`#stream`)))
	tb.step("stream")
	tb.waitJS("live", `document.querySelector("#conn-state").dataset.state === "live"`)
	tb.step("live")
	t.Log(tb.bodyText())
	_, err := chromedp.Call(tb.ctx, network.Enable, network.EnableParams{})
	t.Log(err)
	_, err = chromedp.Call(tb.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: []*network.Conditions{{Offline: true}}})
	t.Log("rule", err)
	_, err = chromedp.Call(tb.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true})
	t.Log("override", err)
	tb.waitJS("not live", `document.querySelector("#conn-state").dataset.state !== "live"`)
	t.Log("subs", h.App.Hub.Stats())
	apptest.Wait(t, 5*time.Second, "socket gone", func() bool { return h.App.Hub.Stats().Subscribers == 0 })
	t.Log("img", eval[string](tb, "img", `document.querySelector("#streamer-avatar").getAttribute("src")`))
	tb.step("dropped")
	t.Log(eval[string](tb, "s", `document.querySelector("#conn-state").dataset.state`))
	_, _ = h.Sim.Follow(context.Background(), "quietquinn", "nightowl_tv")
	t.Log(tb.exceptions())
	tb.screenshot("/tmp", "scratch.png")
}
