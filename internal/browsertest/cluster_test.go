package browsertest

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/cluster"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// clusterWait bounds a wait on the relay processes (they share two busy cores).
const clusterWait = 30 * time.Second

// TestJourneyThroughBalancer: the journey in Chromium against two relay processes sharing
// Redis behind a round-robin balancer (the standalone simulator as Twitch): log in, choose
// the streamer, the socket connects and every feed starts; events whose callbacks land on
// either instance are shown; the instance holding the page's socket is killed (SIGKILL) while
// two more events happen; the page reconnects through the balancer to the other and shows
// both, once each, in order; logging out deletes the session's subscriptions.
func TestJourneyThroughBalancer(t *testing.T) {
	chromiumPath(t)
	rc := redistest.Client(t)
	bin, err := cluster.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, bin, cluster.Options{Instances: 2, RedisURL: redistest.URL(t), Prefix: redistest.Prefix(t, rc)})
	tb := newTab(t)

	tb.do("open the landing page", chromedp.Navigate(c.URL()+"/"), chromedp.WaitVisible(css("a.btn-twitch")))
	tb.do("log in through the simulator", chromedp.Click(css("a.btn-twitch")), chromedp.WaitVisible(css("#user-"+streamer)),
		chromedp.Click(css("#user-"+streamer)), chromedp.Click(css(`button[name=action][value=authorize]`)),
		chromedp.WaitVisible(css("#streamer")))
	tb.do("choose "+streamer, chromedp.SendKeys(css("#streamer"), streamer),
		chromedp.Click(css(`form[action="/enter_streamer"] button[type=submit]`)), chromedp.WaitVisible(css("#stream")))
	tb.waitJS("the socket and all four feeds", feedsActiveJS)
	tb.step("logged in through the balancer, feeds on")

	title := func(n int) string { return fmt.Sprintf("Cottage village, day %d", 100+n) }
	update := func(n int) {
		t.Helper()
		if err := c.Trigger(url.Values{"type": {"update"}, "login": {streamer}, "title": {title(n)}, "category": {"Minecraft"}}); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 4; n++ { // fresh connections: the callbacks alternate between the instances
		update(n)
		tb.waitNewest("channel.update", "Title changed to "+title(n)+" · category Minecraft")
	}
	tb.step("4 events shown (their callbacks spread over the instances)")

	var holder *cluster.Relay
	apptest.Wait(t, clusterWait, "the instance holding the page's socket", func() bool {
		for _, r := range c.Relays {
			if c.Sockets(r) == 1 {
				holder = r
				return true
			}
		}
		return false
	})
	c.Kill(holder)
	update(5)
	update(6)
	tb.waitNewest("channel.update", "Title changed to "+title(6)+" · category Minecraft")
	tb.waitJS("connected again", `document.getElementById("conn-state").dataset.state === "live"`)
	evs := tb.events()
	checkSequence(t, evs)
	shown := map[string]bool{}
	for _, ev := range evs {
		shown[ev.Text] = true
	}
	for n := 1; n <= 6; n++ {
		if want := "Title changed to " + title(n) + " · category Minecraft"; !shown[want] {
			t.Errorf("%q is not shown after %s was killed:%s", want, holder.Name, texts(evs))
		}
	}
	tb.step("socket's instance killed: reconnected, events 5 and 6 shown once each, in order")

	tb.do("log out", chromedp.Click(css(`form[action="/logout"] button[type=submit]`)), chromedp.WaitVisible(css("a.btn-twitch")))
	apptest.Wait(t, clusterWait, "no subscription left after logout", func() bool {
		subs, err := c.Subscriptions()
		return err == nil && len(subs) == 0
	})
	tb.step("logged out: no subscription left")
}
