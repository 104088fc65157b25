package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// checkDelivered fails unless every delivery of a trigger was answered 2xx.
func checkDelivered(t *testing.T, what string, ds []twitchsim.Delivery, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(ds) == 0 {
		t.Fatalf("%s: nothing was delivered", what)
	}
	for _, d := range ds {
		if d.Err != nil || d.Status != http.StatusNoContent {
			t.Errorf("%s: delivery %s answered %d (%v), want 204", what, d.MessageID, d.Status, d.Err)
		}
	}
}

// A triggered event of each type reaches the Sink for the right session only.
func TestEventsReachTheRightSession(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.session("pixelpaladin", "pixelpaladin")
	b := e.session("modmaria", "cozycrafter")
	e.ensure(a)
	e.ensure(b)

	ds, err := e.sim.Follow(ctx, "quietquinn", "pixelpaladin")
	checkDelivered(t, "Follow", ds, err)
	ds, err = e.sim.EndStream(ctx, "pixelpaladin")
	checkDelivered(t, "EndStream", ds, err)
	ds, err = e.sim.GoLive(ctx, "pixelpaladin", "Any% <glitchless>", "Retro")
	checkDelivered(t, "GoLive", ds, err)
	ds, err = e.sim.UpdateChannel(ctx, "pixelpaladin", "New title", "Chess")
	checkDelivered(t, "UpdateChannel", ds, err)
	ds, err = e.sim.UpdateUser(ctx, "pixelpaladin", "new bio")
	checkDelivered(t, "UpdateUser", ds, err)

	got := e.sink.Events(a.ID)
	want := []struct{ typ, summary string }{
		{"channel.follow", "QuietQuinn followed"},
		{"stream.offline", "Stream ended"},
		{"stream.online", "Went live"},
		{"channel.update", "Title changed to New title · category Chess"},
		{"user.update", "Profile updated"},
	}
	if len(got) != len(want) {
		t.Fatalf("session A got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Type != w.typ || !strings.HasPrefix(got[i].Summary, w.summary) {
			t.Errorf("event %d = %s %q, want %s %q", i, got[i].Type, got[i].Summary, w.typ, w.summary)
		}
		if got[i].ID == "" || got[i].Time.IsZero() || len(got[i].Raw) == 0 {
			t.Errorf("event %d lacks id, time or raw: %+v", i, got[i])
		}
	}
	if got[0].Actor.Login != "quietquinn" {
		t.Errorf("follow actor = %+v, want quietquinn", got[0].Actor)
	}
	if n := len(e.sink.Events(b.ID)); n != 0 {
		t.Errorf("session B (another streamer) got %d events, want 0", n)
	}
}

// The following feed: the streamer's own channel, polled; a new follow becomes an event.
func TestFollowingFeedPolls(t *testing.T) {
	e := newEnv(t, nil)
	s := e.session("pixelpaladin", "pixelpaladin")
	e.ensure(s)
	e.sink.waitStatus(t, s.ID, FeedFollowing, StatusActive) // baseline taken
	if _, err := e.sim.Follow(context.Background(), "pixelpaladin", "nightowl_tv"); err != nil {
		t.Fatal(err)
	}
	var ev webhook.Event
	e.sink.wait(t, "a user.follows event", func() bool {
		for _, x := range e.sink.events[s.ID] {
			if x.Type == TypeUserFollows {
				ev = x
				return true
			}
		}
		return false
	})
	if ev.Summary != "PixelPaladin followed NightOwl_TV" || ev.Actor.Login != "nightowl_tv" {
		t.Fatalf("event = %q actor %+v, want \"PixelPaladin followed NightOwl_TV\"", ev.Summary, ev.Actor)
	}
	for _, x := range e.sink.Events(s.ID) {
		if x.Type == TypeUserFollows && x.ID != ev.ID {
			t.Errorf("the baseline produced an event: %q", x.Summary)
		}
	}
}
