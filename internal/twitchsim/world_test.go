package twitchsim

import (
	"context"
	"encoding/base64"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

func TestSeededWorld(t *testing.T) {
	e := newEnv(t, nil)
	validLogin := regexp.MustCompile(`^[a-zA-Z0-9_]{4,25}$`)
	users := e.sim.Users()
	streamers, viewers, xss := 0, 0, false
	ids := map[string]bool{}
	for _, u := range users {
		if !validLogin.MatchString(u.Login) || !strings.EqualFold(u.Login, u.DisplayName) && u.Login != "h4x0r" {
			t.Errorf("login %q / display name %q", u.Login, u.DisplayName)
		}
		if _, err := strconv.ParseUint(u.ID, 10, 64); err != nil || ids[u.ID] {
			t.Errorf("id %q not a unique numeric string", u.ID)
		}
		ids[u.ID] = true
		img, ok := strings.CutPrefix(u.ProfileImageURL, "data:image/svg+xml;base64,")
		svg, err := base64.StdEncoding.DecodeString(img)
		if !ok || err != nil || !strings.HasPrefix(string(svg), "<svg") {
			t.Errorf("%s: profile image is not an inline SVG", u.Login)
		}
		if u.CreatedAt.IsZero() {
			t.Errorf("%s: no created_at", u.Login)
		}
		if u.Channel.Title != "" {
			streamers++
		} else {
			viewers++
		}
		xss = xss || strings.Contains(u.Description, "<script>")
		if u.Stream != nil && (u.Stream.StartedAt.IsZero() || u.Channel.CategoryName == "" || u.Channel.CategoryID == "") {
			t.Errorf("%s: live without start time or category", u.Login)
		}
	}
	if streamers != 4 || viewers != 6 || !xss {
		t.Fatalf("%d streamers, %d viewers, XSS user %v", streamers, viewers, xss)
	}
	for _, u := range users {
		for _, m := range u.Moderators {
			if !ids[m] {
				t.Errorf("%s has unknown moderator %s", u.Login, m)
			}
		}
	}
	for _, f := range e.sim.State().Follows {
		if !ids[f.UserID] || !ids[f.BroadcasterID] || f.FollowedAt.IsZero() {
			t.Errorf("bad follow %+v", f)
		}
	}
	if got := e.sim.Followers("pixelpaladin"); len(got) != 4 || got[0].UserLogin != "lurker_lou" {
		t.Fatalf("pixelpaladin's followers, newest first: %+v", got)
	}
	// Users returns copies.
	users[0].Moderators[0] = "x"
	if u, _ := e.sim.User(users[0].Login); u.Moderators[0] == "x" {
		t.Fatal("Users shares state with the simulator")
	}
}

// Triggers, Helix calls and subscription changes at once: run with -race.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, testSecret, nil)
	app := e.appToken()
	e.subscribe(app, eventsub.TypeUserUpdate, eventsub.Condition{"user_id": "100001"}, rc.url(), testSecret)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				if _, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", strconv.Itoa(i*10+j)); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				if r := e.helix("GET", "/eventsub/subscriptions", app, nil); r.status != 200 {
					t.Errorf("list: %d", r.status)
				}
				e.helix("GET", "/users?login=pixelpaladin", app, nil)
			}
		})
	}
	wg.Wait()
	if n := len(rc.messages(eventsub.MessageTypeNotification)); n != 20 {
		t.Fatalf("%d notifications, want 20", n)
	}
}

func TestModeratorLogins(t *testing.T) {
	e := newEnv(t, nil)
	want := map[string][]string{"pixelpaladin": {"modmaria", "speedy_sam"}, "cozycrafter": {"modmaria"}, "nightowl_tv": {"gamergrace"}}
	if got := e.sim.ModeratorLogins(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ModeratorLogins = %v, want the seeded moderators %v", got, want)
	}
	if err := e.sim.AddModerator("speedy_sam", "lurker_lou"); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.ModeratorLogins()["speedy_sam"]; !reflect.DeepEqual(got, []string{"lurker_lou"}) {
		t.Errorf("after AddModerator, speedy_sam's moderators = %v, want [lurker_lou]", got)
	}
}
