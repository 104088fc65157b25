package twitchsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

const testSecret = "s3cret-at-least-10"

func createReq(typ string, cond eventsub.Condition, callback string) eventsub.CreateRequest {
	return eventsub.CreateRequest{Type: typ, Version: eventsub.Version(typ), Condition: cond,
		Transport: eventsub.Transport{Method: "webhook", Callback: callback, Secret: testSecret}}
}

func TestCreateSubscriptionRejections(t *testing.T) {
	e := newEnv(t, nil)
	strict := newEnv(t, func(c *Config) { c.AllowInsecureCallbacks = false })
	app := e.appToken()
	cb := "http://127.0.0.1:9/callback"
	online := eventsub.Condition{"broadcaster_user_id": "100001"}
	mod := func(f func(*eventsub.CreateRequest)) eventsub.CreateRequest {
		r := createReq(eventsub.TypeStreamOnline, online, cb)
		f(&r)
		return r
	}
	userTok := e.userToken("pixelpaladin").AccessToken
	tests := []struct {
		name   string
		env    *env
		tok    string
		req    eventsub.CreateRequest
		status int
		want   string // part of the message
	}{
		{"user token for webhook", e, userTok, mod(func(*eventsub.CreateRequest) {}), 401, "app access token"},
		{"secret too short", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Secret = "123456789" }), 400, "secret"},
		{"secret too long", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Secret = strings.Repeat("x", 101) }), 400, "secret"},
		{"secret not ASCII", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Secret = "sécret-sécret" }), 400, "secret"},
		{"unknown type", e, app, mod(func(r *eventsub.CreateRequest) { r.Type = "channel.poke" }), 400, "unsupported subscription type"},
		{"wrong version", e, app, mod(func(r *eventsub.CreateRequest) { r.Version = "2" }), 400, "version"},
		{"channel.update v1", e, app, eventsub.CreateRequest{Type: "channel.update", Version: "1", Condition: online,
			Transport: eventsub.Transport{Method: "webhook", Callback: cb, Secret: testSecret}}, 400, "version"},
		{"follow v1", e, app, eventsub.CreateRequest{Type: "channel.follow", Version: "1", Condition: online,
			Transport: eventsub.Transport{Method: "webhook", Callback: cb, Secret: testSecret}}, 400, "version"},
		{"missing condition", e, app, mod(func(r *eventsub.CreateRequest) { r.Condition = nil }), 400, "broadcaster_user_id"},
		{"wrong condition field", e, app, mod(func(r *eventsub.CreateRequest) { r.Condition = eventsub.Condition{"user_id": "100001"} }), 400, "condition"},
		{"extra condition field", e, app, mod(func(r *eventsub.CreateRequest) {
			r.Condition = eventsub.Condition{"broadcaster_user_id": "100001", "x": "1"}
		}), 400, "unexpected field"},
		{"unknown user", e, app, mod(func(r *eventsub.CreateRequest) { r.Condition = eventsub.Condition{"broadcaster_user_id": "999"} }), 400, "not a user"},
		{"follow without moderator", e, app, createReq(eventsub.TypeChannelFollow, online, cb), 400, "moderator_user_id"},
		{"user.update needs user_id", e, app, createReq(eventsub.TypeUserUpdate, online, cb), 400, "user_id"},
		{"missing callback", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Callback = "" }), 400, "callback"},
		{"relative callback", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Callback = "/cb" }), 400, "callback"},
		{"http non-loopback", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Callback = "http://example.com/cb" }), 400, "https on port 443"},
		{"https other port", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Callback = "https://example.com:8443/cb" }), 400, "https on port 443"},
		{"http loopback when strict", strict, strict.appToken(), mod(func(*eventsub.CreateRequest) {}), 400, "https on port 443"},
		{"websocket transport", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport = eventsub.Transport{Method: "websocket", SessionID: "x"} }), 400, "user access token"},
		{"unknown transport", e, app, mod(func(r *eventsub.CreateRequest) { r.Transport.Method = "pigeon" }), 400, "transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.env.helix(http.MethodPost, "/eventsub/subscriptions", tt.tok, tt.req)
			if r.status != tt.status || !strings.Contains(r.message(t), tt.want) {
				t.Fatalf("got %d %s, want %d containing %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
	if n := len(e.sim.Subscriptions()); n != 0 {
		t.Fatalf("rejected requests left %d subscriptions", n)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/helix/eventsub/subscriptions", strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer "+app)
	req.Header.Set("Client-Id", DefaultClientID)
	if r := e.do(req); r.status != 400 {
		t.Fatalf("malformed JSON: %d", r.status)
	}
	body, _ := json.Marshal(createReq(eventsub.TypeStreamOnline, online, cb))
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/helix/eventsub/subscriptions", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+app)
	req.Header.Set("Client-Id", DefaultClientID)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := e.do(req); r.status != 400 || !strings.Contains(r.message(t), "Content-Type") {
		t.Fatalf("form content type: %d %s", r.status, r.body)
	}
}

func TestCallbackRules(t *testing.T) {
	e := newEnv(t, nil)
	strict := newEnv(t, func(c *Config) { c.AllowInsecureCallbacks = false })
	for _, tc := range []struct {
		callback           string
		insecure, strictly bool // accepted by each
	}{
		{"https://example.com/cb", true, true},
		{"https://example.com:443/cb", true, true},
		{"http://127.0.0.1:8080/cb", true, false},
		{"http://localhost:8080/cb", true, false},
		{"http://[::1]:8080/cb", true, false},
		{"https://127.0.0.1:8443/cb", true, false},
		{"http://10.0.0.1:8080/cb", false, false},
		{"http://example.com/cb", false, false},
		{"ftp://127.0.0.1/cb", false, false},
		{"https://user:pw@example.com/cb", false, false},
	} {
		if got := e.sim.checkCallback(tc.callback) == ""; got != tc.insecure {
			t.Errorf("AllowInsecureCallbacks: %s accepted=%v, want %v", tc.callback, got, tc.insecure)
		}
		if got := strict.sim.checkCallback(tc.callback) == ""; got != tc.strictly {
			t.Errorf("strict: %s accepted=%v, want %v", tc.callback, got, tc.strictly)
		}
	}
}

func TestVerification(t *testing.T) {
	tests := []struct {
		name       string
		answer     answerFunc
		wantStatus string
	}{
		{"correct", nil, eventsub.StatusEnabled},
		{"correct without charset", func(m received, ch string) (int, string, string) { return 200, "text/plain", ch }, eventsub.StatusEnabled},
		{"wrong body", func(m received, ch string) (int, string, string) { return 200, "text/plain", ch + "\n" }, eventsub.StatusVerificationFailed},
		{"json body", func(m received, ch string) (int, string, string) {
			return 200, "text/plain", `{"challenge":"` + ch + `"}`
		}, eventsub.StatusVerificationFailed},
		{"wrong content type", func(m received, ch string) (int, string, string) { return 200, "application/json", ch }, eventsub.StatusVerificationFailed},
		{"non-200", func(m received, ch string) (int, string, string) { return 202, "text/plain", ch }, eventsub.StatusVerificationFailed},
		{"server error", func(m received, ch string) (int, string, string) { return 500, "text/plain", ch }, eventsub.StatusVerificationFailed},
		{"redirect", func(m received, ch string) (int, string, string) { return 307, "text/plain", ch }, eventsub.StatusVerificationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			rc := newReceiver(t, testSecret, tt.answer)
			sub := e.subscribe(e.appToken(), eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100002"}, rc.url(), testSecret)
			if sub.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", sub.Status, tt.wantStatus)
			}
			msgs := rc.messages(eventsub.MessageTypeVerification)
			if len(msgs) != 1 {
				t.Fatalf("%d verification requests, want 1", len(msgs))
			}
			m := msgs[0]
			s, _, challenge := m.payload(t)
			if !m.validSig || m.retry != "0" || m.subType != "stream.online" || m.subVersion != "1" || challenge == "" ||
				s.ID != sub.ID || s.Status != eventsub.StatusVerificationPending || s.Transport.Secret != "" {
				t.Fatalf("verification message %+v, subscription %+v", m, s)
			}
			if _, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil {
				t.Fatalf("timestamp %q: %v", m.timestamp, err)
			}
		})
	}
}

func TestCreateResponseAndConflict(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	rc := newReceiver(t, testSecret, nil)
	cond := eventsub.Condition{"broadcaster_user_id": "100003"}
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeStreamOnline, cond, rc.url()))
	var lr eventsub.ListResponse
	r.json(t, &lr)
	if r.status != 202 || len(lr.Data) != 1 || lr.Total != 1 || lr.TotalCost != 1 || lr.MaxTotalCost != 10000 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	d := lr.Data[0]
	if d.Status != eventsub.StatusVerificationPending || d.Cost != 1 || d.Transport.Secret != "" || d.CreatedAt.IsZero() ||
		d.Transport.Callback != rc.url() || d.Condition["broadcaster_user_id"] != "100003" {
		t.Fatalf("created subscription %+v", d)
	}
	if strings.Contains(string(r.body), testSecret) {
		t.Fatal("the response echoes the secret")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.sim.WaitVerified(ctx, d.ID); err != nil {
		t.Fatal(err)
	}

	r = e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeStreamOnline, cond, rc.url()))
	var conflict struct {
		Error, Message, ID string
		Status             int
	}
	r.json(t, &conflict)
	if r.status != 409 || conflict.Status != 409 || conflict.Error != "Conflict" || conflict.ID != d.ID {
		t.Fatalf("duplicate: %d %s, want 409 naming %s", r.status, r.body, d.ID)
	}
	// Same type and condition on other callbacks: allowed up to 3, then 429.
	for i, want := range []int{202, 202, 429} {
		r = e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeStreamOnline, cond,
			rc.url()+"?n="+string(rune('a'+i))))
		if r.status != want {
			t.Fatalf("identical #%d: %d, want %d", i+2, r.status, want)
		}
	}
}

func TestChannelFollowAuthorization(t *testing.T) {
	e := newEnv(t, nil)
	app := e.appToken()
	rc := newReceiver(t, testSecret, nil)
	follow := func(broadcaster, moderator string) result {
		return e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(eventsub.TypeChannelFollow,
			eventsub.Condition{"broadcaster_user_id": e.userID(broadcaster), "moderator_user_id": e.userID(moderator)}, rc.url()))
	}
	e.userToken("lurker_lou", "moderator:read:followers") // granted, but moderates nothing
	e.userToken("cozycrafter", "user:read:email")         // broadcaster, but without the scope
	e.userToken("modmaria", "moderator:read:followers")   // moderator of pixelpaladin and cozycrafter
	e.userToken("nightowl_tv", "moderator:read:followers")
	tests := []struct {
		name, broadcaster, moderator string
		status                       int
	}{
		{"viewer with scope, not a moderator", "pixelpaladin", "lurker_lou", 403},
		{"broadcaster without scope", "cozycrafter", "cozycrafter", 403},
		{"moderator who never authorized", "pixelpaladin", "speedy_sam", 403},
		{"moderator with scope", "pixelpaladin", "modmaria", 202},
		{"broadcaster with scope", "nightowl_tv", "nightowl_tv", 202},
		{"broadcaster with scope, not its channel", "pixelpaladin", "nightowl_tv", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := follow(tt.broadcaster, tt.moderator)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.status == 202 {
				var lr eventsub.ListResponse
				r.json(t, &lr)
				if lr.Data[0].Cost != 0 {
					t.Fatalf("channel.follow cost %d, want 0", lr.Data[0].Cost)
				}
			} else if r.message(t) != "subscription missing proper authorization" {
				t.Fatalf("403 message %s", r.body)
			}
		})
	}
}

func TestCostAccounting(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxTotalCost = 2 })
	app := e.appToken()
	rc := newReceiver(t, testSecret, nil) // subscriptions stay pending or enabled: both cost
	e.userToken("speedy_sam")             // speedy_sam authorized the client: its subscriptions cost 0
	create := func(typ, field, login string) result {
		return e.helix(http.MethodPost, "/eventsub/subscriptions", app,
			createReq(typ, eventsub.Condition{field: e.userID(login)}, rc.url()))
	}
	for _, tc := range []struct {
		typ, field, login string
		status, cost      int
		totalCost         int
	}{
		{eventsub.TypeStreamOnline, "broadcaster_user_id", "speedy_sam", 202, 0, 0},
		{eventsub.TypeUserUpdate, "user_id", "speedy_sam", 202, 0, 0},
		{eventsub.TypeStreamOnline, "broadcaster_user_id", "cozycrafter", 202, 1, 1},
		{eventsub.TypeChannelUpdate, "broadcaster_user_id", "cozycrafter", 202, 1, 2},
		{eventsub.TypeStreamOffline, "broadcaster_user_id", "cozycrafter", 429, 0, 0},
		{eventsub.TypeStreamOffline, "broadcaster_user_id", "speedy_sam", 202, 0, 2},
	} {
		r := create(tc.typ, tc.field, tc.login)
		if r.status != tc.status {
			t.Fatalf("%s %s: %d, want %d (%s)", tc.typ, tc.login, r.status, tc.status, r.body)
		}
		if r.status != 202 {
			continue
		}
		var lr eventsub.ListResponse
		r.json(t, &lr)
		if lr.Data[0].Cost != tc.cost || lr.TotalCost != tc.totalCost || lr.MaxTotalCost != 2 {
			t.Fatalf("%s %s: cost %d total_cost %d max %d, want %d %d 2", tc.typ, tc.login, lr.Data[0].Cost,
				lr.TotalCost, lr.MaxTotalCost, tc.cost, tc.totalCost)
		}
	}
}
