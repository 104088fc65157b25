package securitytest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/fakeclock"
)

// TestStreamerChangeClosesOtherTabs: tab 1 shows PixelPaladin; in tab 2 the same login picks
// CozyCrafter. Tab 1's socket is closed 4409 "streamer changed in another tab" (the page
// reloads) and never receives a CozyCrafter event under PixelPaladin's header; tab 2's socket
// gets CozyCrafter's events and none of PixelPaladin's history.
func TestStreamerChangeClosesOtherTabs(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, tab1, sid := watcher(t, h, "quietquinn", "pixelpaladin")
	old := subscriptionOf(t, h, sid, "channel.update")
	if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "old-1", Body: updateBody(old, "pixel title")})); a.Status != http.StatusNoContent {
		t.Fatalf("callback: %d", a.Status)
	}
	expectTitle(t, tab1, "pixel title")

	if status, _, err := b.ChooseStreamer("cozycrafter"); err != nil || status != http.StatusOK {
		t.Fatalf("choose in tab 2: %d %v", status, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	code, reason := closeOf(ctx, tab1.Conn)
	t.Logf("observed: tab 1 closed %d %q", code, reason)
	if code != 4409 || reason != "streamer changed in another tab" {
		t.Fatalf("tab 1 closed %d %q, want 4409 \"streamer changed in another tab\"", code, reason)
	}
	tab2, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tab2.Close()
	if _, err := tab2.WaitFeeds(ctx, func(f map[string]apptest.Feed) bool { return f["stream_changed"].Status == "active" }); err != nil {
		t.Fatal(err)
	}
	h.WaitSessionVerified(t, sid)
	if _, err := h.Sim.UpdateChannel(t.Context(), "cozycrafter", "cozy title", "Minecraft"); err != nil {
		t.Fatal(err)
	}
	if f := nextEvent(t, tab2); f.Event == nil || f.Event.Title != "cozy title" {
		t.Fatalf("tab 2's first event is %s, want CozyCrafter's \"cozy title\" (nothing of PixelPaladin's)", f.Raw)
	}
}

// TestIdleLoginsLeaveNoTokenSource: 30 logins never logged out. Once their sessions have been
// idle for the token idle time (the session idle timeout; here 1 min on a clock the test
// moves, so slow logins on a busy machine cannot outlast it), their cached token sources are
// gone, swept by the next request; the person whose socket is open keeps its source and its
// events.
func TestIdleLoginsLeaveNoTokenSource(t *testing.T) {
	clock := &fakeclock.Offset{}
	h := apptest.Start(t, apptest.Options{App: app.Options{TokenIdle: time.Minute, TokenClock: clock.Now}})
	good, s, sid := watcher(t, h, "quietquinn", "pixelpaladin")
	for range 30 {
		if err := h.NewBrowser().Login("lurker_lou"); err != nil {
			t.Fatal(err)
		}
	}
	peak := h.App.Web.TokenSources()
	if peak < 31 {
		t.Fatalf("only %d sources cached after 31 logins: the test proves nothing", peak)
	}
	clock.Advance(2 * time.Minute)
	apptest.Wait(t, waitFor, "idle token sources dropped", func() bool {
		if status, _, err := good.Get("/enter_streamer"); err != nil || status != http.StatusOK {
			t.Fatalf("the good user's form: %d %v", status, err)
		}
		return h.App.Web.TokenSources() == 1
	})
	t.Logf("observed: cached token sources %d after 31 logins → %d after the idle time", peak, h.App.Web.TokenSources())
	sub := subscriptionOf(t, h, sid, "channel.update")
	if a := do(t, signedRequest(callbackURL(h, sid), secretOf(sid), msg{ID: "idle-1", Body: updateBody(sub, "still watching")})); a.Status != http.StatusNoContent {
		t.Fatalf("callback: %d", a.Status)
	}
	expectTitle(t, s, "still watching")
}
