package helix_test

import (
	"context"
	"testing"
)

// Channel information answers for offline channels too (cozycrafter is offline in the seed).
func TestGetChannels(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	chans, err := e.client.GetChannels(context.Background(), ts, []string{"100002", "100001", "999999999"})
	if err != nil {
		t.Fatalf("GetChannels: %v", err)
	}
	if len(chans) != 2 {
		t.Fatalf("got %d channels, want 2 (the unknown id left out): %+v", len(chans), chans)
	}
	for _, c := range chans {
		if c.Title == "" || c.GameName == "" || c.BroadcasterLogin == "" {
			t.Errorf("incomplete channel %+v", c)
		}
	}
}

func TestGetChannelsNoIDsNoRequest(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	chans, err := e.client.GetChannels(context.Background(), ts, nil)
	if err != nil || len(chans) != 0 {
		t.Fatalf("GetChannels(nil) = %v, %v", chans, err)
	}
}
