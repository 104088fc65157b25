package helix_test

import (
	"context"
	"testing"
)

func TestGetStreams(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	// pixelpaladin and nightowl_tv are live in the seeded world, cozycrafter is offline.
	streams, err := e.client.GetStreams(context.Background(), ts, []string{"100001", "100002", "100003"})
	if err != nil {
		t.Fatalf("GetStreams: %v", err)
	}
	live := map[string]bool{}
	for _, s := range streams {
		live[s.UserLogin] = true
		if s.Type != "live" || s.ID == "" || s.Title == "" || s.GameName == "" || s.StartedAt.IsZero() || s.UserName == "" {
			t.Errorf("incomplete stream %+v", s)
		}
	}
	if len(streams) != 2 || !live["pixelpaladin"] || !live["nightowl_tv"] {
		t.Errorf("live = %v, want pixelpaladin and nightowl_tv", live)
	}
	for _, s := range streams {
		if s.UserLogin == "nightowl_tv" && s.Title != `Late night <chat> & "chill" 🦉` {
			t.Errorf("title = %q, want it unchanged", s.Title)
		}
	}
}

func TestGetStreamsOffline(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	streams, err := e.client.GetStreams(context.Background(), ts, []string{"100002"})
	if err != nil {
		t.Fatalf("GetStreams: %v", err)
	}
	if len(streams) != 0 {
		t.Errorf("offline channel has streams %+v", streams)
	}
}

func TestGetStreamsNoUsers(t *testing.T) {
	e := newEnv(t)
	ts, _, _ := e.userToken(t, "lurker_lou")
	streams, err := e.client.GetStreams(context.Background(), ts, nil)
	if err != nil || len(streams) != 0 {
		t.Errorf("GetStreams(nil) = %v, %v; want nothing", streams, err)
	}
	if got := e.statuses(); len(got) != 0 {
		t.Errorf("requests = %v, want none", got)
	}
}
