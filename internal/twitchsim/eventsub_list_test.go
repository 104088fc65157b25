package twitchsim

import (
	"net/http"
	"slices"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// listEnv has five subscriptions: four enabled on a good callback, one failed on a bad one.
func listEnv(t *testing.T) (*env, string, []eventsub.Subscription) {
	e := newEnv(t, nil)
	app := e.appToken()
	good := newReceiver(t, testSecret, nil)
	bad := newReceiver(t, testSecret, func(received, string) (int, string, string) { return 500, "", "" })
	subs := []eventsub.Subscription{
		e.subscribe(app, eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100001"}, good.url(), testSecret),
		e.subscribe(app, eventsub.TypeStreamOffline, eventsub.Condition{"broadcaster_user_id": "100001"}, good.url(), testSecret),
		e.subscribe(app, eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100002"}, good.url(), testSecret),
		e.subscribe(app, eventsub.TypeUserUpdate, eventsub.Condition{"user_id": "200001"}, good.url(), testSecret),
		e.subscribe(app, eventsub.TypeStreamOnline, eventsub.Condition{"broadcaster_user_id": "100004"}, bad.url(), testSecret),
	}
	return e, app, subs
}

func ids(subs []eventsub.Subscription) []string {
	var out []string
	for _, s := range subs {
		out = append(out, s.ID)
	}
	return out
}

func TestListSubscriptionsFilters(t *testing.T) {
	e, app, subs := listEnv(t)
	all := ids(subs)
	tests := []struct {
		name, query string
		want        []string
	}{
		{"all, oldest first", "", all},
		{"status enabled", "?status=enabled", all[:4]},
		{"status failed", "?status=webhook_callback_verification_failed", all[4:]},
		{"type", "?type=stream.online", []string{all[0], all[2], all[4]}},
		{"user_id", "?user_id=100001", all[:2]},
		{"user_id of user.update", "?user_id=200001", all[3:4]},
		{"subscription_id", "?subscription_id=" + all[2], all[2:3]},
		{"conduit_id", "?conduit_id=abc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.helix(http.MethodGet, "/eventsub/subscriptions"+tt.query, app, nil)
			var lr eventsub.ListResponse
			r.json(t, &lr)
			if r.status != 200 || !slices.Equal(ids(lr.Data), tt.want) {
				t.Fatalf("%d: got %v, want %v", r.status, ids(lr.Data), tt.want)
			}
			if lr.Total != 5 || lr.TotalCost != 4 || lr.MaxTotalCost != 10000 {
				t.Fatalf("total %d total_cost %d max %d, want 5 4 10000", lr.Total, lr.TotalCost, lr.MaxTotalCost)
			}
		})
	}
	for _, q := range []string{"?status=enabled&type=stream.online", "?user_id=1&subscription_id=2", "?type=a&conduit_id=b"} {
		if r := e.helix(http.MethodGet, "/eventsub/subscriptions"+q, app, nil); r.status != 400 {
			t.Errorf("%s: %d, want 400 (filters are mutually exclusive)", q, r.status)
		}
	}
	// A user token lists its websocket subscriptions: the simulator has none.
	var lr eventsub.ListResponse
	e.helix(http.MethodGet, "/eventsub/subscriptions", e.userToken("modmaria").AccessToken, nil).json(t, &lr)
	if len(lr.Data) != 0 || lr.Total != 0 {
		t.Fatalf("user token listed %v", ids(lr.Data))
	}
}

func TestListSubscriptionsPagination(t *testing.T) {
	e, app, subs := listEnv(t)
	var got []string
	cursor, pages := "", 0
	for {
		var lr eventsub.ListResponse
		r := e.helix(http.MethodGet, "/eventsub/subscriptions?first=2&after="+cursor, app, nil)
		r.json(t, &lr)
		if r.status != 200 || len(lr.Data) > 2 {
			t.Fatalf("page %d: %d, %d items", pages, r.status, len(lr.Data))
		}
		got = append(got, ids(lr.Data)...)
		pages++
		if cursor = lr.Pagination.Cursor; cursor == "" {
			break
		}
	}
	if pages != 3 || !slices.Equal(got, ids(subs)) {
		t.Fatalf("%d pages: %v, want 3 pages of %v", pages, got, ids(subs))
	}
	for _, q := range []string{"?first=0", "?first=101", "?after=garbage"} {
		if r := e.helix(http.MethodGet, "/eventsub/subscriptions"+q, app, nil); r.status != 400 {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
	}
}

func TestDeleteSubscription(t *testing.T) {
	e, app, subs := listEnv(t)
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions?id="+subs[0].ID, e.userToken("modmaria").AccessToken, nil); r.status != 404 {
		t.Fatalf("delete with a user token: %d, want 404", r.status)
	}
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions?id="+subs[0].ID, app, nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s, want 204", r.status, r.body)
	}
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions?id="+subs[0].ID, app, nil); r.status != 404 {
		t.Fatalf("delete again: %d, want 404", r.status)
	}
	if r := e.helix(http.MethodDelete, "/eventsub/subscriptions", app, nil); r.status != 400 {
		t.Fatalf("delete without id: %d, want 400", r.status)
	}
	if got := ids(e.sim.Subscriptions()); !slices.Equal(got, ids(subs[1:])) {
		t.Fatalf("left %v, want %v", got, ids(subs[1:]))
	}
	// The deleted subscription can be created again.
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", app, createReq(subs[0].Type, subs[0].Condition, subs[0].Transport.Callback))
	if r.status != 202 {
		t.Fatalf("re-create: %d %s", r.status, r.body)
	}
}
