package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// twoInstances starts two relays on one Redis namespace and one simulator, as behind a
// load balancer, with STREAMER_CHANGES_PER_MINUTE = limit.
func twoInstances(t *testing.T, limit int) (a, b *apptest.Harness, prefix string) {
	t.Helper()
	c := redistest.Client(t)
	prefix = redistest.Prefix(t, c)
	env := map[string]string{"REDIS_KEY_PREFIX": prefix, "STREAMER_CHANGES_PER_MINUTE": fmt.Sprint(limit)}
	a = apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t), Env: env})
	b = apptest.Start(t, apptest.Options{RedisURL: apptest.RedisURL(t), Env: env, Sim: a.Sim, SimURL: a.SimURL})
	a.Sim.SetRedirectURIs(a.URL+"/auth", b.URL+"/auth")
	return a, b, prefix
}

// sameBrowserOn is b's browser (its cookies) talking to instance h: a round-robin proxy
// sending the next request elsewhere. Cookies ignore the port, so one jar serves both.
func sameBrowserOn(h *apptest.Harness, b *apptest.Browser) *apptest.Browser {
	o := h.NewBrowser()
	o.Jar, o.Client.Jar = b.Jar, b.Jar
	return o
}

func choose(t *testing.T, b *apptest.Browser, streamer string, want int) string {
	t.Helper()
	status, body, err := b.ChooseStreamer(streamer)
	if err != nil || status != want {
		t.Fatalf("choose %s = %d %v, want %d\n%.400s", streamer, status, err, want, body)
	}
	return body
}

// With Redis, a session and a Twitch user have one budget of streamer changes across all
// instances, not one per instance: with 2 a minute, one change on each instance spends it, on
// either instance, for any session of that user. In-process buckets would allow 2 on each.
func TestStreamerChangesSharedAcrossInstances(t *testing.T) {
	a, b, _ := twoInstances(t, 2)
	onA := a.NewBrowser()
	if err := onA.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	onB := sameBrowserOn(b, onA)
	choose(t, onA, "pixelpaladin", http.StatusOK)
	choose(t, onB, "cozycrafter", http.StatusOK)
	if body := choose(t, onA, "nightowl_tv", http.StatusTooManyRequests); !strings.Contains(body, "Too many streamer changes") {
		t.Errorf("the 429 page does not say why: %.400s", body)
	}
	choose(t, onB, "nightowl_tv", http.StatusTooManyRequests)
	// Another session of the same Twitch user, on the other instance: the user's bucket.
	again := b.NewBrowser()
	if err := again.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	choose(t, again, "speedy_sam", http.StatusTooManyRequests)
	// Another user is not affected.
	other := b.NewBrowser()
	if err := other.Login("h4x0r"); err != nil {
		t.Fatal(err)
	}
	choose(t, other, "speedy_sam", http.StatusOK)
}

// When the shared buckets cannot be read (here a bucket's key holds the wrong type, so
// Redis answers the take with an error), the change is refused with a clear 503 page, not
// let through and not a crash; once Redis answers again, changes work.
func TestStreamerChangeRefusedWhenBucketsUnreadable(t *testing.T) {
	a, _, prefix := twoInstances(t, 6)
	br := a.NewBrowser()
	if err := br.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	choose(t, br, "pixelpaladin", http.StatusOK)
	u, ok := a.Sim.User("modmaria")
	if !ok {
		t.Fatal("no simulated user modmaria")
	}
	c := redistest.Client(t)
	key := prefix + "throttle:user:" + u.ID
	if err := c.Set(t.Context(), key, "not a bucket", 0).Err(); err != nil {
		t.Fatal(err)
	}
	body := choose(t, br, "cozycrafter", http.StatusServiceUnavailable)
	if !strings.Contains(body, "Streamer changes are paused") || !strings.Contains(body, "still on") {
		t.Errorf("the 503 page does not say what happened: %.600s", body)
	}
	if !strings.Contains(a.Logs.String(), "streamer change throttle") {
		t.Error("the refusal's cause is not in the log")
	}
	if err := c.Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
	choose(t, br, "cozycrafter", http.StatusOK)
}
