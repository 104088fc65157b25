package twitchsim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type usersResp struct {
	Data []helixUser `json:"data"`
}

func TestHelixAuth(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	revoked := e.userToken("modmaria").AccessToken
	e.revoke(DefaultClientID, revoked)
	tests := []struct {
		name, tok, clientID, want string
	}{
		{"no token", "", DefaultClientID, "OAuth token is missing"},
		{"no client id", app, "", "Client-Id header required"},
		{"unknown token", "madeuptoken", DefaultClientID, "Invalid OAuth token"},
		{"revoked token", revoked, DefaultClientID, "Invalid OAuth token"},
		{"client id mismatch", app, "anotherclientid", "Client ID and OAuth token do not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.helixAs(http.MethodGet, "/users?login=cozycrafter", tt.tok, tt.clientID, nil)
			wantError(t, r, http.StatusUnauthorized, tt.want)
			var body helixErrorBody
			r.json(t, &body)
			if body.Error != "Unauthorized" || body.Status != 401 {
				t.Fatalf("error shape %s", r.body)
			}
		})
	}
	// OAuth scheme is for /validate only; Helix wants Bearer.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/helix/users?login=cozycrafter", nil)
	req.Header.Set("Authorization", "OAuth "+app)
	req.Header.Set("Client-Id", DefaultClientID)
	wantError(t, e.do(req), http.StatusUnauthorized, "OAuth token is missing")
}

func TestGetUsers(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	var got usersResp
	e.helix(http.MethodGet, "/users?login=PixelPaladin&id=200004&login=nosuchuser", app, nil).json(t, &got)
	if len(got.Data) != 2 || got.Data[0].ID != "200004" || got.Data[1].Login != "pixelpaladin" {
		t.Fatalf("users = %+v", got.Data)
	}
	u := got.Data[1]
	if u.DisplayName != "PixelPaladin" || u.BroadcasterType != "partner" || !strings.HasPrefix(u.ProfileImageURL, "data:image/svg+xml") ||
		u.CreatedAt.IsZero() || u.Email != "" {
		t.Fatalf("user fields %+v", u)
	}
	if !strings.Contains(got.Data[0].Description, "<script>") {
		t.Fatalf("h4x0r should carry HTML in its description, got %q", got.Data[0].Description)
	}

	wantError(t, e.helix(http.MethodGet, "/users", app, nil), http.StatusBadRequest, "Must provide an ID, Login or OAuth Token")
	many := "/users?" + strings.Repeat("id=1&", 101)
	if r := e.helix(http.MethodGet, many, app, nil); r.status != http.StatusBadRequest {
		t.Fatalf("101 ids: %d, want 400", r.status)
	}

	// No parameters with a user token: the owner, with email only given user:read:email.
	for _, tc := range []struct {
		scopes    []string
		wantEmail string
	}{{nil, ""}, {[]string{"user:read:email"}, "speedy_sam@example.com"}} {
		tok := e.userToken("speedy_sam", tc.scopes...)
		got = usersResp{}
		e.helix(http.MethodGet, "/users", tok.AccessToken, nil).json(t, &got)
		if len(got.Data) != 1 || got.Data[0].Login != "speedy_sam" || got.Data[0].Email != tc.wantEmail {
			t.Fatalf("scopes %v: owner = %+v", tc.scopes, got.Data)
		}
	}
}

func TestGetStreams(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	var got struct {
		Data       []helixStream `json:"data"`
		Pagination pagination    `json:"pagination"`
	}
	e.helix(http.MethodGet, "/streams?user_login=pixelpaladin&user_login=cozycrafter", app, nil).json(t, &got)
	if len(got.Data) != 1 || got.Data[0].UserLogin != "pixelpaladin" || got.Data[0].Type != "live" ||
		got.Data[0].Title == "" || got.Data[0].GameName != "Retro" || got.Data[0].StartedAt.IsZero() {
		t.Fatalf("streams = %+v", got.Data)
	}
	got.Data = nil
	e.helix(http.MethodGet, "/streams?user_id=100002", app, nil).json(t, &got)
	if len(got.Data) != 0 {
		t.Fatalf("offline channel has a stream: %+v", got.Data)
	}
	if _, err := e.sim.GoLive(context.Background(), "cozycrafter", "New build", "Minecraft"); err != nil {
		t.Fatal(err)
	}
	e.helix(http.MethodGet, "/streams?user_id=100002", app, nil).json(t, &got)
	if len(got.Data) != 1 || got.Data[0].Title != "New build" {
		t.Fatalf("after GoLive: %+v", got.Data)
	}
	// Unfiltered: every live stream, paginated.
	got.Data = nil
	e.helix(http.MethodGet, "/streams?first=2", app, nil).json(t, &got)
	if len(got.Data) != 2 || got.Pagination.Cursor == "" {
		t.Fatalf("first page: %d streams, cursor %q", len(got.Data), got.Pagination.Cursor)
	}
	cursor := got.Pagination.Cursor
	got.Data, got.Pagination = nil, pagination{}
	e.helix(http.MethodGet, "/streams?first=2&after="+cursor, app, nil).json(t, &got)
	if len(got.Data) != 1 || got.Pagination.Cursor != "" {
		t.Fatalf("second page: %d streams, cursor %q", len(got.Data), got.Pagination.Cursor)
	}
}

func TestChannelsFollowed(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.userToken("chatterbox42", "user:read:follows").AccessToken
	e.clock.Advance(time.Second)
	if _, err := e.sim.Follow(context.Background(), "chatterbox42", "nightowl_tv"); err != nil {
		t.Fatal(err)
	}
	type followed struct {
		Total      int             `json:"total"`
		Data       []helixFollowed `json:"data"`
		Pagination pagination      `json:"pagination"`
	}
	var page1, page2 followed
	e.helix(http.MethodGet, "/channels/followed?user_id=200003&first=2", tok, nil).json(t, &page1)
	if page1.Total != 3 || len(page1.Data) != 2 || page1.Data[0].BroadcasterLogin != "nightowl_tv" ||
		page1.Data[1].BroadcasterLogin != "speedy_sam" || page1.Pagination.Cursor == "" {
		t.Fatalf("page 1 = %+v", page1)
	}
	e.helix(http.MethodGet, "/channels/followed?user_id=200003&first=2&after="+page1.Pagination.Cursor, tok, nil).json(t, &page2)
	if len(page2.Data) != 1 || page2.Data[0].BroadcasterLogin != "pixelpaladin" || page2.Pagination.Cursor != "" {
		t.Fatalf("page 2 = %+v", page2)
	}

	noScope := e.userToken("chatterbox42").AccessToken
	tests := []struct {
		name, path, tok string
		status          int
	}{
		{"missing user_id", "/channels/followed", tok, 400},
		{"other user", "/channels/followed?user_id=200001", tok, 401},
		{"missing scope", "/channels/followed?user_id=200003", noScope, 401},
		{"app token", "/channels/followed?user_id=200003", e.appToken(), 401},
		{"bad first", "/channels/followed?user_id=200003&first=101", tok, 400},
		{"bad cursor", "/channels/followed?user_id=200003&after=notacursor", tok, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.helix(http.MethodGet, tt.path, tt.tok, nil); r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimitPoints = 3 })
	app := e.appToken()
	for i, want := range []int{2, 1, 0} {
		r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil)
		if r.status != 200 || r.header.Get("Ratelimit-Limit") != "3" || r.header.Get("Ratelimit-Remaining") != strconv.Itoa(want) {
			t.Fatalf("request %d: %d, limit %q remaining %q", i, r.status, r.header.Get("Ratelimit-Limit"), r.header.Get("Ratelimit-Remaining"))
		}
	}
	r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil)
	wantError(t, r, http.StatusTooManyRequests, "Too Many Requests")
	reset, err := strconv.ParseInt(r.header.Get("Ratelimit-Reset"), 10, 64)
	if err != nil || reset <= e.clock.Now().Unix() || reset > e.clock.Now().Add(time.Minute+time.Second).Unix() {
		t.Fatalf("Ratelimit-Reset %q, want a Unix time within the next minute", r.header.Get("Ratelimit-Reset"))
	}
	// A user's bucket is separate from the app's.
	user := e.userToken("modmaria").AccessToken
	if r := e.helix(http.MethodGet, "/users", user, nil); r.status != 200 {
		t.Fatalf("user bucket: %d", r.status)
	}
	// Waiting until the reset refills the bucket.
	e.clock.Advance(time.Duration(reset-e.clock.Now().Unix()) * time.Second)
	if r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil); r.status != 200 || r.header.Get("Ratelimit-Remaining") != "2" {
		t.Fatalf("after reset: %d remaining %q", r.status, r.header.Get("Ratelimit-Remaining"))
	}
	e.sim.DrainRateLimit(DefaultClientID, "")
	if r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("after drain: %d", r.status)
	}
}

func TestInjectFault(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	e.sim.InjectFault(Fault{Path: "/helix/users", Method: "GET", Status: 503, Count: 2})
	e.sim.InjectFault(Fault{Path: "/helix/streams", Status: 429})
	for i := range 2 {
		r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil)
		if r.status != 503 || r.header.Get("Ratelimit-Limit") == "" {
			t.Fatalf("request %d: %d, want 503 with rate-limit headers", i, r.status)
		}
		var body helixErrorBody
		r.json(t, &body)
		if body.Status != 503 || body.Error != "Service Unavailable" {
			t.Fatalf("fault body %s", r.body)
		}
	}
	if r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil); r.status != 200 {
		t.Fatalf("after the fault: %d", r.status)
	}
	r := e.helix(http.MethodGet, "/streams", app, nil)
	if r.status != 429 || r.header.Get("Ratelimit-Remaining") != "0" || r.header.Get("Ratelimit-Reset") == "" {
		t.Fatalf("429 fault: %d %v", r.status, r.header)
	}
	// OAuth faults use the id.twitch.tv error shape.
	e.sim.InjectFault(Fault{Path: "/id/oauth2/token", Status: 500})
	r = e.postForm("/id/oauth2/token", nil)
	wantError(t, r, 500, "injected fault")
}

func TestInjectFaultDelay(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	e.sim.InjectFault(Fault{Path: "/helix/users", Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/helix/users?login=modmaria", nil)
	req.Header.Set("Authorization", "Bearer "+app)
	req.Header.Set("Client-Id", DefaultClientID)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a stalled request answered before the client's deadline")
	}
	// The fault is spent: the next request is served at once.
	if r := e.helix(http.MethodGet, "/users?login=modmaria", app, nil); r.status != 200 {
		t.Fatalf("after the delay fault: %d", r.status)
	}
}

func TestGetChannels(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	var got struct {
		Data []helixChannel `json:"data"`
	}
	// Offline channels have channel information too; unknown ids are left out.
	e.helix(http.MethodGet, "/channels?broadcaster_id=100002&broadcaster_id=123", app, nil).json(t, &got)
	if len(got.Data) != 1 || got.Data[0].BroadcasterLogin != "cozycrafter" || got.Data[0].Title == "" || got.Data[0].GameName == "" {
		t.Fatalf("channels = %+v", got.Data)
	}
	if _, err := e.sim.UpdateChannel(context.Background(), "cozycrafter", "Offline retitle", "Art"); err != nil {
		t.Fatal(err)
	}
	e.helix(http.MethodGet, "/channels?broadcaster_id=100002", app, nil).json(t, &got)
	if got.Data[0].Title != "Offline retitle" || got.Data[0].GameName != "Art" {
		t.Fatalf("after UpdateChannel: %+v", got.Data)
	}
	if r := e.helix(http.MethodGet, "/channels", app, nil); r.status != http.StatusBadRequest {
		t.Fatalf("no broadcaster_id: %d, want 400", r.status)
	}
}
