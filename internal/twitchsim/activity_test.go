package twitchsim

import (
	"context"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

func TestActivityGenerator(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, testSecret, nil)
	app := e.appToken()
	var streamers []User
	for _, u := range e.sim.Users() {
		e.subscribe(app, eventsub.TypeUserUpdate, eventsub.Condition{"user_id": u.ID}, rc.url(), testSecret)
		if u.Channel.Title == "" { // viewers have no channel information
			continue
		}
		streamers = append(streamers, u)
		b := eventsub.Condition{"broadcaster_user_id": u.ID}
		for _, typ := range []string{eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate} {
			e.subscribe(app, typ, b, rc.url(), testSecret)
		}
		if _, err := e.sim.IssueUserToken(u.Login, "moderator:read:followers"); err != nil {
			t.Fatal(err)
		}
		e.subscribe(app, eventsub.TypeChannelFollow, eventsub.Condition{"broadcaster_user_id": u.ID, "moderator_user_id": u.ID},
			rc.url(), testSecret)
	}
	if len(streamers) != 4 {
		t.Fatalf("%d streamers, want 4", len(streamers))
	}
	wasLive := map[string]bool{}
	for _, u := range streamers {
		wasLive[u.ID] = u.Stream != nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	e.sim.StartActivity(ctx, time.Millisecond)
	deadline := time.After(20 * time.Second)
	for n := 0; n < 40; {
		select {
		case m := <-rc.arrived:
			if m.typ == eventsub.MessageTypeNotification {
				n++
			}
		case <-deadline:
			t.Fatalf("only %d notifications from the activity generator", n)
		}
	}
	cancel()
	e.sim.Close() // waits for the generator to stop

	types := map[string]int{}
	followed := map[[2]string]bool{}
	for _, m := range rc.messages(eventsub.MessageTypeNotification) {
		if !m.validSig {
			t.Fatal("activity notification with a bad signature")
		}
		_, ev, _ := m.payload(t)
		types[m.subType]++
		switch m.subType {
		case eventsub.TypeStreamOnline, eventsub.TypeStreamOffline:
			id := ev["broadcaster_user_id"].(string)
			online := m.subType == eventsub.TypeStreamOnline
			if online == wasLive[id] {
				t.Fatalf("%s for %s, which was already in that state", m.subType, id)
			}
			wasLive[id] = online
		case eventsub.TypeChannelFollow:
			key := [2]string{ev["user_id"].(string), ev["broadcaster_user_id"].(string)}
			if followed[key] || key[0] == key[1] {
				t.Fatalf("impossible follow %v", key)
			}
			followed[key] = true
		}
	}
	if len(types) < 4 {
		t.Fatalf("activity produced only %v", types)
	}
	for key := range followed {
		found := false
		for _, f := range e.sim.State().Follows {
			found = found || (f.UserID == key[0] && f.BroadcasterID == key[1])
		}
		if !found {
			t.Fatalf("follow %v delivered but not in the world", key)
		}
	}
}

func TestActivityStopsWithContext(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	e.sim.StartActivity(ctx, time.Millisecond)
	cancel()
	done := make(chan struct{})
	go func() { e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the activity context ended")
	}
}
