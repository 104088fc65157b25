package web_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/web"
)

// followerRule is how the form puts Twitch's rule for channel.follow into words.
const followerRule = "need you to be the channel's broadcaster or one of its moderators"

var (
	chipItem = regexp.MustCompile(`(?s)<li>(.*?)</li>`)
	tag      = regexp.MustCompile(`<[^>]*>`)
	spaces   = regexp.MustCompile(`\s+`)
)

// text is what a person reads of an HTML fragment.
func text(fragment string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tag.ReplaceAllString(fragment, " ")), " "))
}

// chips returns the text of each suggestion on the streamer form, by login.
func chips(t *testing.T, body string) map[string]string {
	t.Helper()
	_, list, ok := strings.Cut(body, `class="chips"`)
	if !ok {
		t.Fatalf("the form has no suggestions:\n%s", body)
	}
	list, _, _ = strings.Cut(list, "</ul>")
	out := map[string]string{}
	for _, m := range chipItem.FindAllStringSubmatch(list, -1) {
		txt := text(m[1])
		login, _, _ := strings.Cut(txt, " ")
		out[login] = txt
	}
	return out
}

// In the demo the form offers the simulated streamers; a newcomer must see which of them will
// show follower events for the account they logged in with (their own channel, or one they
// moderate), and whom to log in as otherwise.
func TestStreamerFormSaysWhichSuggestionsShowFollowerEvents(t *testing.T) {
	sim := twitchsim.New(twitchsim.Config{ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret, AllowInsecureCallbacks: true})
	t.Cleanup(sim.Close)
	var suggest app.Options
	for _, u := range sim.Users() { // as the demo picks them
		if u.BroadcasterType != "" || u.Channel.Title != "" {
			suggest.Suggestions = append(suggest.Suggestions, u.Login)
		}
	}
	suggest.SuggestionModerators = sim.ModeratorLogins()
	h := apptest.Start(t, apptest.Options{App: suggest})
	tests := []struct {
		login     string
		followers map[string]string // suggestion → why it shows follower events
		hint      []string          // what the form says when none does
	}{
		{login: "modmaria", followers: map[string]string{"pixelpaladin": "you moderate it", "cozycrafter": "you moderate it"}},
		{login: "pixelpaladin", followers: map[string]string{"pixelpaladin": "your channel"}},
		{login: "gamergrace", followers: map[string]string{"nightowl_tv": "you moderate it"}},
		{login: "lurker_lou", hint: []string{"None of these channels will show follower events for you",
			"modmaria or speedy_sam (pixelpaladin)", "modmaria (cozycrafter)", "gamergrace (nightowl_tv)"}},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			b := h.NewBrowser()
			if err := b.Login(tt.login); err != nil {
				t.Fatal(err)
			}
			status, body, err := b.Get("/enter_streamer")
			if err != nil || status != http.StatusOK {
				t.Fatalf("GET /enter_streamer = %d, %v", status, err)
			}
			page := text(body)
			if !strings.Contains(page, followerRule) {
				t.Errorf("the form does not say the rule (%q):\n%s", followerRule, page)
			}
			got := chips(t, body)
			if len(got) != 4 {
				t.Errorf("suggestions %v, want the four simulated streamers", got)
			}
			for login, chip := range got {
				why, want := tt.followers[login]
				has := strings.Contains(chip, "follower events")
				switch {
				case want && (!has || !strings.Contains(chip, why)):
					t.Errorf("suggestion %q reads %q, want it to say it shows follower events (%s)", login, chip, why)
				case !want && has:
					t.Errorf("suggestion %q reads %q, but %s gets no follower events there", login, chip, tt.login)
				}
			}
			for _, h := range tt.hint {
				if !strings.Contains(page, h) {
					t.Errorf("the form does not say %q:\n%s", h, page)
				}
			}
			if tt.hint == nil && strings.Contains(page, "None of these") {
				t.Errorf("the form says none shows follower events, but some do:\n%s", page)
			}
		})
	}
}

// Outside the demo nobody knows whom you moderate: the form states the rule in words.
func TestStreamerFormStatesTheFollowerRule(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	_, body, err := b.Get("/enter_streamer")
	if err != nil {
		t.Fatal(err)
	}
	if page := text(body); !strings.Contains(page, followerRule) {
		t.Errorf("the form does not say the rule (%q):\n%s", followerRule, page)
	}
}

// People paste what their browser shows: channel links, "@name", stray spaces. The field
// shows a twitch.tv/ prefix, so all of them mean the channel.
func TestStreamerLogin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pixelpaladin", "pixelpaladin"},
		{"  PixelPaladin ", "pixelpaladin"},
		{"@PixelPaladin", "pixelpaladin"},
		{"https://www.twitch.tv/pixelpaladin", "pixelpaladin"},
		{"http://twitch.tv/pixelpaladin/", "pixelpaladin"},
		{"twitch.tv/pixelpaladin", "pixelpaladin"},
		{"www.twitch.tv/PixelPaladin/videos?filter=all", "pixelpaladin"},
		{"https://m.twitch.tv/pixelpaladin#chat", "pixelpaladin"},
		{"twitch.tv/@pixelpaladin", "pixelpaladin"},
		{"https://example.com/pixelpaladin", "https://example.com/pixelpaladin"}, // not Twitch: refused
		{"twitch.tv/", ""},
		{"pixel/paladin", "pixel/paladin"},
	}
	for _, tt := range tests {
		got := web.StreamerLogin(tt.in)
		if got != tt.want {
			t.Errorf("StreamerLogin(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if ok := web.ValidStreamerLogin(got); ok != (tt.want != "" && !strings.ContainsAny(tt.want, "/:")) {
			t.Errorf("ValidStreamerLogin(StreamerLogin(%q)) = %v", tt.in, ok)
		}
	}
}

// The form takes a pasted channel link to the stream page.
func TestStreamerFormAcceptsChannelLinks(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"https://www.twitch.tv/pixelpaladin", "twitch.tv/PixelPaladin", "@pixelpaladin"} {
		status, body, err := b.ChooseStreamer(in)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK || !strings.Contains(body, `id="streamer-name">PixelPaladin<`) {
			t.Errorf("%q = %d, want the stream page of PixelPaladin:\n%.400s", in, status, body)
		}
	}
}

// The form offers the channels the user follows, live ones first, with avatar and badge.
func TestStreamerFormSuggestsFollowedChannels(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b := h.NewBrowser()
	if err := b.Login("modmaria"); err != nil { // follows cozycrafter (offline) and pixelpaladin (live)
		t.Fatal(err)
	}
	_, body, err := b.Get("/enter_streamer")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(body, `class="channel-list"`)
	if !ok || !strings.Contains(body, "Channels you follow") {
		t.Fatalf("the form offers no followed channels:\n%s", text(body))
	}
	list, _, _ = strings.Cut(list, "</ul>")
	items := chipItem.FindAllStringSubmatch(list, -1)
	var got []string
	for _, m := range items {
		got = append(got, text(m[1]))
		if !strings.Contains(html.UnescapeString(m[1]), `<img class="avatar" src="data:image/svg+xml`) {
			t.Errorf("followed channel %q has no avatar", text(m[1]))
		}
	}
	want := []string{"PixelPaladin Any% attempts — road to sub 30 Live", "CozyCrafter"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("followed channels %q, want %q (live first)", got, want)
	}
}
