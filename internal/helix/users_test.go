package helix_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

func userIDs(us []helix.User) []string {
	var ids []string
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestGetUsers(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "modmaria")
	tests := []struct {
		name        string
		logins, ids []string
		want        []string
	}{
		{"by login", []string{"pixelpaladin", "nightowl_tv"}, nil, []string{"100001", "100003"}},
		{"by id", nil, []string{"100002", "200004"}, []string{"100002", "200004"}},
		{"mixed", []string{"speedy_sam"}, []string{"200001"}, []string{"100004", "200001"}},
		{"unknown left out", []string{"pixelpaladin", "nosuchuser"}, []string{"999"}, []string{"100001"}},
		{"token owner", nil, nil, []string{"200002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.client.GetUsers(context.Background(), ts, tt.logins, tt.ids)
			if err != nil {
				t.Fatalf("GetUsers: %v", err)
			}
			if ids := userIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestGetUserByLogin(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	u, err := e.client.GetUserByLogin(context.Background(), ts, "pixelpaladin")
	if err != nil {
		t.Fatalf("GetUserByLogin: %v", err)
	}
	want, _ := e.sim.User("pixelpaladin")
	if u.ID != want.ID || u.Login != want.Login || u.DisplayName != want.DisplayName ||
		u.BroadcasterType != "partner" || u.Description != want.Description ||
		u.ProfileImageURL != want.ProfileImageURL || u.OfflineImageURL != want.OfflineImageURL ||
		!u.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("GetUserByLogin = %+v\nwant the simulator's %+v", u, want)
	}
	// HTML in a description arrives as text, untouched.
	h, err := e.client.GetUserByLogin(context.Background(), ts, "h4x0r")
	if err != nil || !strings.Contains(h.Description, "<script>") {
		t.Errorf("h4x0r description = %q, %v", h.Description, err)
	}
}

func TestGetUserByLoginUnknown(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	_, err := e.client.GetUserByLogin(context.Background(), ts, "nosuchuser")
	if !errors.Is(err, helix.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `"nosuchuser"`) {
		t.Errorf("error %q does not name the login", err)
	}
}

func TestGetUsersAppTokenNeedsParameters(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.GetUsers(context.Background(), e.auth.AppTokenSource(), nil, nil)
	if !errors.Is(err, helix.ErrBadRequest) {
		t.Errorf("err = %v, want ErrBadRequest (an app token has no owner)", err)
	}
}

func TestGetUsersBatchesOf100(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	logins := []string{"pixelpaladin"}
	for i := range 149 {
		logins = append(logins, fmt.Sprintf("nobody%03d", i))
	}
	logins = append(logins, "cozycrafter")
	got, err := e.client.GetUsers(context.Background(), ts, logins, nil)
	if err != nil {
		t.Fatalf("GetUsers(151 logins): %v", err)
	}
	if ids := userIDs(got); !slices.Equal(ids, []string{"100001", "100002"}) {
		t.Errorf("ids = %v, want [100001 100002]", ids)
	}
	if got := e.statuses(); !slices.Equal(got, []int{200, 200}) {
		t.Errorf("requests = %v, want two (100 + 51)", got)
	}
}

func TestUserToken401Refreshed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ts, tok, refreshed := e.userToken(t, "modmaria", "user:read:follows")
	// Twitch ends the token early (we still think it is valid for hours).
	e.sim.ExpireToken(tok.AccessToken)

	u, err := e.client.GetUsers(ctx, ts, nil, nil)
	if err != nil {
		t.Fatalf("GetUsers with an expired user token: %v", err)
	}
	if len(u) != 1 || u[0].Login != "modmaria" {
		t.Errorf("token owner = %+v, want modmaria", u)
	}
	if got := e.statuses(); !slices.Equal(got, []int{401, 200}) {
		t.Errorf("attempts = %v, want [401 200]", got)
	}
	r := refreshed()
	if len(r) != 1 {
		t.Fatalf("OnRefresh called %d times, want 1", len(r))
	}
	if r[0].AccessToken == tok.AccessToken || r[0].RefreshToken == tok.RefreshToken {
		t.Error("OnRefresh got a token that did not rotate")
	}
	if cur := ts.Current(); cur.AccessToken != r[0].AccessToken {
		t.Error("the source does not use the refreshed token")
	}
	// The next call uses the new token without another refresh.
	if _, err := e.client.GetFollowedChannels(ctx, ts, "200002", 0); err != nil {
		t.Fatalf("GetFollowedChannels after refresh: %v", err)
	}
	if len(refreshed()) != 1 {
		t.Error("a second refresh happened")
	}
}

func TestUserTokenRevokedEndsWithInvalidGrant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ts, tok, _ := e.userToken(t, "modmaria")
	if err := e.auth.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.GetUsers(ctx, ts, nil, nil)
	if err == nil {
		t.Fatal("GetUsers with a revoked token succeeded")
	}
	if !errors.Is(err, auth.ErrInvalidGrant) || !strings.Contains(err.Error(), "Invalid refresh token") {
		t.Errorf("err = %v, want auth.ErrInvalidGrant from the refresh (the user must log in again)", err)
	}
}
