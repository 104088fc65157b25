package twitchsim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

func TestRevokeSubscription(t *testing.T) {
	e, rc, subs := deliveryEnv(t, nil, nil)
	ctx := context.Background()
	id := subs[eventsub.TypeStreamOnline].ID
	d, err := e.sim.RevokeSubscription(ctx, id, eventsub.StatusUserRemoved)
	if err != nil || d.Err != nil || d.MessageType != eventsub.MessageTypeRevocation {
		t.Fatalf("revoke: %+v %v", d, err)
	}
	revs := rc.messages(eventsub.MessageTypeRevocation)
	if len(revs) != 1 || !revs[0].validSig || revs[0].subType != eventsub.TypeStreamOnline {
		t.Fatalf("revocations %+v", revs)
	}
	sub, event, _ := revs[0].payload(t)
	if sub.ID != id || sub.Status != eventsub.StatusUserRemoved || event != nil {
		t.Fatalf("revocation body %s", revs[0].body)
	}
	if _, err := e.sim.RevokeSubscription(ctx, id, ""); !errors.Is(err, ErrNotEnabled) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := e.sim.RevokeSubscription(ctx, "nope", ""); !errors.Is(err, ErrUnknownSubscription) {
		t.Fatalf("revoke unknown: %v", err)
	}
	e.sim.EndStream(ctx, "pixelpaladin")
	if ds, _ := e.sim.GoLive(ctx, "pixelpaladin", "", ""); len(ds) != 0 {
		t.Fatalf("delivered to a revoked subscription: %+v", ds)
	}
}

// Disconnecting the moderator revokes the channel.follow that relied on its authorization.
func TestRevokeUserRevokesFollowSubscription(t *testing.T) {
	e, rc, subs := deliveryEnv(t, nil, nil)
	ds, err := e.sim.RevokeUser(context.Background(), "pixelpaladin")
	if err != nil || len(ds) != 1 || ds[0].SubscriptionID != subs[eventsub.TypeChannelFollow].ID {
		t.Fatalf("RevokeUser: %+v %v", ds, err)
	}
	sub, _, _ := rc.messages(eventsub.MessageTypeRevocation)[0].payload(t)
	if sub.Status != eventsub.StatusAuthorizationRevoked {
		t.Fatalf("status %s", sub.Status)
	}
	// Without the grant, the follow subscription can't be created again.
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", e.appToken(), createReq(eventsub.TypeChannelFollow,
		eventsub.Condition{"broadcaster_user_id": "100001", "moderator_user_id": "100001"}, rc.url()+"?again"))
	if r.status != 403 {
		t.Fatalf("re-create after revoke: %d", r.status)
	}
}

// Close must not wait for a callback that never answers.
func TestCloseCancelsPendingVerification(t *testing.T) {
	e := newEnv(t, nil)
	arrived := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // so the server notices when the simulator hangs up
		close(arrived)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	r := e.helix(http.MethodPost, "/eventsub/subscriptions", e.appToken(), createReq(eventsub.TypeStreamOnline,
		eventsub.Condition{"broadcaster_user_id": "100001"}, hang.URL))
	if r.status != 202 {
		t.Fatalf("create: %d", r.status)
	}
	<-arrived
	done := make(chan struct{})
	go func() { e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close is stuck on a hanging callback")
	}
	if _, err := e.sim.UpdateUser(context.Background(), "pixelpaladin", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("trigger after Close: %v", err)
	}
}
