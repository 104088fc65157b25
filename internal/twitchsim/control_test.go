package twitchsim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

func TestControlState(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, testSecret, nil)
	e.subscribe(e.appToken(), eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100002"}, rc.url(), testSecret)
	r := e.get("/sim/state")
	if r.status != 200 || strings.Contains(string(r.body), testSecret) {
		t.Fatalf("state: %d, secret leaked: %v", r.status, strings.Contains(string(r.body), testSecret))
	}
	var st State
	r.json(t, &st)
	if len(st.Users) != 10 || len(st.Subscriptions) != 1 || len(st.Follows) == 0 {
		t.Fatalf("state: %d users, %d subscriptions, %d follows", len(st.Users), len(st.Subscriptions), len(st.Follows))
	}
	live := 0
	for _, u := range st.Users {
		if u.Stream != nil {
			live++
		}
	}
	if live != 2 {
		t.Fatalf("%d live channels in the seed, want 2", live)
	}
}

func TestControlTrigger(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, testSecret, nil)
	sub := e.subscribe(e.appToken(), eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100002"}, rc.url(), testSecret)
	tests := []struct {
		name       string
		form       url.Values
		status     int
		deliveries int
	}{
		{"online", url.Values{"type": {"online"}, "login": {"cozycrafter"}, "title": {"Hi"}, "category": {"Art"}}, 200, 1},
		{"online again", url.Values{"type": {"online"}, "login": {"cozycrafter"}}, 409, 0},
		{"offline", url.Values{"type": {"offline"}, "login": {"cozycrafter"}}, 200, 0},
		{"follow", url.Values{"type": {"follow"}, "login": {"cozycrafter"}, "follower": {"h4x0r"}}, 200, 0},
		{"update", url.Values{"type": {"update"}, "login": {"cozycrafter"}, "title": {"T"}}, 200, 0},
		{"user_update", url.Values{"type": {"user_update"}, "login": {"cozycrafter"}, "description": {"d"}}, 200, 0},
		{"unknown user", url.Values{"type": {"offline"}, "login": {"nobody_here"}}, 400, 0},
		{"unknown type", url.Values{"type": {"raid"}, "login": {"cozycrafter"}}, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postForm("/sim/trigger", tt.form)
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			if r.status != 200 {
				return
			}
			var out struct {
				Deliveries []struct {
					SubscriptionID string `json:"subscription_id"`
					MessageID      string `json:"message_id"`
					Status         int    `json:"status"`
					Error          string `json:"error"`
				} `json:"deliveries"`
			}
			r.json(t, &out)
			if len(out.Deliveries) != tt.deliveries {
				t.Fatalf("%d deliveries, want %d", len(out.Deliveries), tt.deliveries)
			}
			for _, d := range out.Deliveries {
				if d.SubscriptionID != sub.ID || d.MessageID == "" || d.Status != 204 || d.Error != "" {
					t.Fatalf("delivery %+v", d)
				}
			}
		})
	}
	if u, _ := e.sim.User("cozycrafter"); u.Channel.Title != "T" || u.Description != "d" {
		t.Fatalf("world not changed: %+v", u)
	}
	r := e.postForm("/sim/revoke", url.Values{"id": {sub.ID}, "reason": {"user_removed"}})
	if r.status != 200 || len(rc.messages(eventsub.MessageTypeRevocation)) != 1 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := e.postForm("/sim/revoke", url.Values{"id": {"nope"}}); r.status != 404 {
		t.Fatalf("revoke unknown: %d", r.status)
	}
}

func TestControlLoopbackOnly(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ method, path string }{{"GET", "/sim/state"}, {"POST", "/sim/trigger"}, {"POST", "/sim/revoke"}} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.RemoteAddr = "203.0.113.7:40000"
		w := httptest.NewRecorder()
		e.sim.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s %s from a remote address: %d, want 403", tc.method, tc.path, w.Code)
		}
	}
}
