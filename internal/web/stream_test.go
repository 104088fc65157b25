package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// GET /stream has no effect at Twitch: a prefetch or a crawler following the link creates
// no subscription. The socket's stream_connected does (the original design's step 8).
func TestStreamPageSubscribesNothing(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	for range 3 { // ChooseStreamer lands on GET /stream; then two more renders
		if status, body, err := b.ChooseStreamer("pixelpaladin"); err != nil || status != http.StatusOK {
			t.Fatalf("choose streamer = %d %v\n%.300s", status, err, body)
		}
	}
	if status, body, _ := b.Get("/stream"); status != http.StatusOK {
		t.Fatalf("GET /stream = %d\n%.300s", status, body)
	}
	// Whatever the page set going would have reached the simulator by now: the page's Twitch
	// calls (users, streams, channels) answered before it rendered.
	if subs := h.Sim.Subscriptions(); len(subs) != 0 {
		t.Fatalf("GET /stream created %d subscriptions at Twitch, want none: %+v", len(subs), subs)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sock, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	apptest.Wait(t, 10*time.Second, "subscriptions after stream_connected", func() bool { return len(h.Sim.Subscriptions()) == 6 })
}

// Every connect sends the feed statuses once: never two identical feed_status frames in a
// row, neither for a new session (pending, then active) nor on a reconnect (active at once).
func TestConnectSendsFeedStatusOnce(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, first := h.Watch(t, "modmaria", "pixelpaladin") // subscribed, feeds active
	first.Close()
	framesUntil := func(name string, done func(apptest.Frame) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sock, err := b.Connect(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		var last string
		for statuses := 0; ; {
			f, err := sock.Next(ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if f.Type == "feed_status" {
				if string(f.Raw) == last {
					t.Fatalf("%s: the same feed_status twice in a row: %s", name, f.Raw)
				}
				last, statuses = string(f.Raw), statuses+1
			}
			if done(f) {
				t.Logf("%s: %d feed_status frames", name, statuses)
				return
			}
		}
	}
	// A reconnect of the subscribed session: its state frame, then live events only.
	framesUntil("reconnect", func(f apptest.Frame) bool {
		if f.Type == "feed_status" {
			if _, err := h.Sim.UpdateUser(t.Context(), "pixelpaladin", "hello"); err != nil {
				t.Fatal(err)
			}
		}
		return f.Type == "event_updated"
	})
	// A new session: pending, then the statuses as they change, each once.
	b = h.NewBrowser()
	if err := b.Login("modmaria"); err != nil {
		t.Fatal(err)
	}
	if status, _, err := b.ChooseStreamer("pixelpaladin"); err != nil || status != http.StatusOK {
		t.Fatal(status, err)
	}
	framesUntil("new session", func(f apptest.Frame) bool {
		st := map[string]string{}
		for _, fd := range f.Feeds {
			st[fd.Feed] = fd.Status
		}
		return f.Type == "feed_status" && st["stream_changed"] == "active" && st["user_changed"] == "active" && st["followed_by"] == "active"
	})
}

// In the demo the stream page says who moderates the channel, so a newcomer can log in as
// one of them and see follower events; the broadcaster and its moderators are not told.
func TestStreamPageSaysWhoModeratesInTheDemo(t *testing.T) {
	h := apptest.Start(t, apptest.Options{App: app.Options{SuggestionModerators: map[string][]string{
		"pixelpaladin": {"modmaria", "speedy_sam"}}}})
	for login, want := range map[string]string{
		"lurker_lou": "Demo: modmaria and speedy_sam moderate PixelPaladin. Log in as one of them (or pixelpaladin) to see its new followers.",
		"modmaria":   "",
	} {
		b := h.NewBrowser()
		if err := b.Login(login); err != nil {
			t.Fatal(err)
		}
		_, body, err := b.ChooseStreamer("pixelpaladin")
		if err != nil {
			t.Fatal(err)
		}
		_, hint, found := strings.Cut(body, `id="follow-hint">`)
		hint, _, _ = strings.Cut(hint, "<")
		if hint != want || found != (want != "") {
			t.Errorf("%s watching pixelpaladin: hint %q, want %q", login, hint, want)
		}
	}
}
