package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// BenchmarkCallbackToSocket is one signed channel.update notification POSTed to the real
// relay over loopback HTTP, answered 204, and read as an event by the session's open socket:
// the single-socket path of relaybench, one callback at a time, in one process (so allocs/op
// counts the client's side as well; it is the same before and after a change of the relay).
func BenchmarkCallbackToSocket(b *testing.B) {
	h := apptest.Start(b, apptest.Options{Logs: io.Discard})
	_, sock, sid := h.WatchSession(b, "pixelpaladin", "pixelpaladin")
	sub := h.Subscription(b, sid, eventsub.TypeChannelUpdate)
	body := apptest.ChannelUpdateBody(sub, "benchmarked")
	url, secret := h.CallbackURL(sid), apptest.WebhookSecret(sid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		req := apptest.SignedCallback(url, secret, apptest.Callback{ID: fmt.Sprint("bench-", n), Body: body,
			SubscriptionType: sub.Type, SubscriptionVersion: sub.Version})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("answer %d, want 204", resp.StatusCode)
		}
		if _, err := sock.NextEvent(ctx); err != nil {
			b.Fatalf("event %d: %v", n, err)
		}
	}
}
