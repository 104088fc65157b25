package twitchsim

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

// seedUser is one row of the seeded world.
type seedUser struct {
	id, login, display, btype, description, color string
	created                                       string // date
	title, category                               string // channel information
	liveFor                                       time.Duration
	moderators                                    []string // logins
}

// The seeded world: four streamers and six viewers. h4x0r's description and nightowl_tv's
// title carry HTML on purpose, so that pages showing them can prove they escape it.
var seedStreamers = []seedUser{
	{id: "100001", login: "pixelpaladin", display: "PixelPaladin", btype: "partner", color: "#9146ff",
		description: "Speedrunner and retro platformer enjoyer. New PBs every Tuesday.",
		created:     "2014-03-12", title: "Any% attempts — road to sub 30", category: "Retro",
		liveFor: 95 * time.Minute, moderators: []string{"modmaria", "speedy_sam"}},
	{id: "100002", login: "cozycrafter", display: "CozyCrafter", btype: "affiliate", color: "#2e9e5b",
		description: "Building tiny villages, one block at a time.",
		created:     "2018-07-01", title: "Cottage village, day 41", category: "Minecraft",
		moderators: []string{"modmaria"}},
	{id: "100003", login: "nightowl_tv", display: "NightOwl_TV", btype: "affiliate", color: "#e0661b",
		description: "Late-night talk, music and the occasional code review.",
		created:     "2019-11-23", title: "Late night <chat> & \"chill\" 🦉", category: "Just Chatting",
		liveFor: 20 * time.Minute, moderators: []string{"gamergrace"}},
	{id: "100004", login: "speedy_sam", display: "Speedy_Sam", btype: "", color: "#d13b6f",
		description: "Building games in public. Ask me about Go.",
		created:     "2021-02-19", title: "Writing a tiny game engine", category: "Software and Game Development"},
}

var seedViewers = []seedUser{
	{id: "200001", login: "lurker_lou", display: "Lurker_Lou", color: "#5c6bc0", created: "2016-05-04",
		description: "Mostly here for the music."},
	{id: "200002", login: "modmaria", display: "ModMaria", color: "#00897b", created: "2015-09-30",
		description: "Moderator. Be kind, have fun."},
	{id: "200003", login: "chatterbox42", display: "Chatterbox42", color: "#f4511e", created: "2020-01-15",
		description: "I have opinions about speedrun routes."},
	{id: "200004", login: "h4x0r", display: "h4x0r", color: "#546e7a", created: "2022-04-01",
		description: `<script>alert(1)</script><img src=x onerror="alert(2)"> & 'quotes'`},
	{id: "200005", login: "quietquinn", display: "QuietQuinn", color: "#8d6e63", created: "2023-08-08",
		description: ""},
	{id: "200006", login: "gamergrace", display: "GamerGrace", color: "#6d4c41", created: "2017-12-24",
		description: "Cozy games, loud opinions."},
}

// seedFollows: follower login, broadcaster login, hours ago.
// seedSubs are the channel subscriptions the world starts with, so resubs, upgrades and
// pay-it-forwards have someone to come from.
var seedSubs = []struct {
	user, broadcaster, tier string
	prime                   bool
	months, streak          int
	gifter                  string // login; "-" = anonymous gift, "" = not a gift
}{
	{"chatterbox42", "pixelpaladin", "1000", false, 11, 4, ""},
	{"lurker_lou", "pixelpaladin", "1000", true, 2, 2, ""},
	{"modmaria", "pixelpaladin", "2000", false, 30, 30, ""},
	{"speedy_sam", "pixelpaladin", "1000", false, 1, 1, "modmaria"},
	{"quietquinn", "cozycrafter", "1000", false, 1, 1, "-"},
	{"modmaria", "cozycrafter", "1000", true, 5, 5, ""},
	{"gamergrace", "nightowl_tv", "3000", false, 14, 2, ""},
	{"h4x0r", "nightowl_tv", "1000", false, 1, 1, "gamergrace"},
	{"lurker_lou", "nightowl_tv", "1000", true, 3, 3, ""},
	{"chatterbox42", "speedy_sam", "1000", false, 7, 7, ""},
	{"pixelpaladin", "speedy_sam", "1000", false, 1, 1, "-"},
	{"quietquinn", "speedy_sam", "1000", true, 1, 1, ""},
}

var seedFollows = []struct {
	follower, broadcaster string
	hoursAgo              int
}{
	{"modmaria", "pixelpaladin", 9000}, {"speedy_sam", "pixelpaladin", 4000},
	{"chatterbox42", "pixelpaladin", 700}, {"lurker_lou", "pixelpaladin", 50},
	{"modmaria", "cozycrafter", 6000}, {"quietquinn", "cozycrafter", 300},
	{"gamergrace", "nightowl_tv", 5000}, {"lurker_lou", "nightowl_tv", 2000},
	{"h4x0r", "nightowl_tv", 30}, {"pixelpaladin", "speedy_sam", 1200},
	{"chatterbox42", "speedy_sam", 10},
}

// seedWorld builds the seeded world relative to now.
func seedWorld(now time.Time) *world {
	w := &world{users: map[string]*User{}, byLogin: map[string]string{}, nextID: 40000000000,
		subs: map[[2]string]*ChannelSub{}, gifted: map[[2]string]int{}}
	for _, su := range seedStreamers {
		w.add(su.user(true))
	}
	for _, su := range seedViewers {
		w.add(su.user(false))
	}
	for _, su := range slices.Concat(seedStreamers, seedViewers) {
		u := w.users[su.id]
		for _, m := range su.moderators {
			u.Moderators = append(u.Moderators, w.byLogin[m])
		}
		if su.liveFor > 0 {
			u.Stream = &Stream{ID: w.newStreamID(), Type: "live", StartedAt: now.Add(-su.liveFor).UTC(),
				ViewerCount: 40 + len(su.login)*17}
		}
	}
	for _, f := range seedFollows {
		w.follows = append(w.follows, Follow{
			UserID: w.byLogin[f.follower], UserLogin: f.follower,
			BroadcasterID: w.byLogin[f.broadcaster], BroadcasterLogin: f.broadcaster,
			FollowedAt: now.Add(-time.Duration(f.hoursAgo) * time.Hour).UTC(),
		})
	}
	for _, su := range seedSubs {
		cs := &ChannelSub{UserID: w.byLogin[su.user], BroadcasterID: w.byLogin[su.broadcaster], Tier: su.tier, Prime: su.prime,
			CumulativeMonths: su.months, StreakMonths: su.streak, Gift: su.gifter != ""}
		if su.gifter != "" && su.gifter != "-" {
			cs.GifterID = w.byLogin[su.gifter]
		}
		w.subs[subKey(cs.UserID, cs.BroadcasterID)] = cs
	}
	slices.SortFunc(w.follows, func(a, b Follow) int { return a.FollowedAt.Compare(b.FollowedAt) })
	return w
}

func (su seedUser) user(streamer bool) *User {
	created, _ := time.Parse(time.DateOnly, su.created)
	u := &User{
		ID: su.id, Login: su.login, DisplayName: su.display, BroadcasterType: su.btype,
		Description: su.description, ProfileImageURL: avatar(su.display, su.login, su.color),
		Email: su.login + "@example.com", CreatedAt: created.Add(13*time.Hour + 37*time.Minute).UTC(),
		Channel: Channel{Language: "en", ContentClassificationLabels: []string{}},
	}
	if streamer {
		u.OfflineImageURL = offlineBanner(su.display, su.color)
		u.Channel.Title = su.title
		u.Channel.CategoryName = su.category
		u.Channel.CategoryID = categoryID(su.category)
	}
	return u
}

// avatar returns a 300x300 SVG data URI with initials: the capitals of the display name,
// else the login's first letters. Only ASCII letters and digits reach the SVG, so nothing
// in it needs escaping.
func avatar(display, login, color string) string {
	var initials strings.Builder
	for _, r := range display {
		if 'A' <= r && r <= 'Z' && initials.Len() < 2 {
			initials.WriteRune(r)
		}
	}
	for _, r := range strings.ToUpper(login) {
		if initials.Len() >= 2 {
			break
		}
		if ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			if initials.Len() == 0 || r != rune(initials.String()[0]) {
				initials.WriteRune(r)
			}
		}
	}
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" viewBox="0 0 300 300">`+
		`<rect width="300" height="300" rx="150" fill="%s"/>`+
		`<text x="150" y="150" dy="0.35em" text-anchor="middle" font-family="Helvetica,Arial,sans-serif" `+
		`font-size="120" font-weight="700" fill="#ffffff">%s</text></svg>`, color, initials.String())
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(svg))
}

// offlineBanner returns a 1920x1080 SVG data URI shown while a channel is offline.
func offlineBanner(display, color string) string {
	name := strings.Map(func(r rune) rune {
		if r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return -1
	}, display)
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="1920" height="1080" viewBox="0 0 1920 1080">`+
		`<rect width="1920" height="1080" fill="%s"/>`+
		`<text x="960" y="540" text-anchor="middle" font-family="Helvetica,Arial,sans-serif" font-size="110" `+
		`fill="#ffffff">%s is offline</text></svg>`, color, name)
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(svg))
}
