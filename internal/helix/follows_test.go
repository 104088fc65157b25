package helix_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/helix"
)

func TestGetFollowedChannels(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "modmaria", "user:read:follows")
	ctx := context.Background()
	got, err := e.client.GetFollowedChannels(ctx, ts, "200002", 0)
	if err != nil {
		t.Fatalf("GetFollowedChannels: %v", err)
	}
	// Seeded: modmaria followed pixelpaladin 9000 h ago and cozycrafter 6000 h ago.
	if len(got) != 2 || got[0].BroadcasterLogin != "cozycrafter" || got[1].BroadcasterLogin != "pixelpaladin" {
		t.Fatalf("followed = %+v, want cozycrafter then pixelpaladin (newest first)", got)
	}
	if got[0].BroadcasterID != "100002" || got[0].BroadcasterName != "CozyCrafter" || !got[0].FollowedAt.After(got[1].FollowedAt) {
		t.Errorf("first entry = %+v", got[0])
	}

	one, err := e.client.GetFollowedChannels(ctx, ts, "200002", 1)
	if err != nil || len(one) != 1 || one[0].BroadcasterLogin != "cozycrafter" {
		t.Errorf("first=1: %+v, %v; want only the newest", one, err)
	}
}

func TestGetFollowedChannelsErrors(t *testing.T) {
	e := newEnv(t)
	withScope, _, _ := e.userToken(t, "modmaria", "user:read:follows")
	tests := []struct {
		name   string
		userID string
		first  int
		want   error
	}{
		{"another user's follows", "200001", 0, helix.ErrUnauthorized},
		{"first too large", "200002", 101, helix.ErrBadRequest},
		{"no user", "", 0, helix.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.GetFollowedChannels(context.Background(), withScope, tt.userID, tt.first)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
