package webhook

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// channelUpdateBody is the notification relaybench posts: a channel.update of a few hundred bytes.
const channelUpdateBody = `{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"channel.update","version":"2",` +
	`"condition":{"broadcaster_user_id":"100001"},"transport":{"method":"webhook","callback":"http://127.0.0.1:8080/callback/0123456789abcdef0123456789abcdef"},` +
	`"created_at":"2026-03-01T11:59:00.000000000Z","cost":0},"event":{"broadcaster_user_id":"100001","broadcaster_user_login":"pixelpaladin",` +
	`"broadcaster_user_name":"PixelPaladin","title":"Speedrunning all day","language":"en","category_id":"509658","category_name":"Just Chatting",` +
	`"content_classification_labels":[]}}`

// BenchmarkIntake is what the callback handler asks of this package for one notification:
// verify the request, normalise its event and encode the browser's frame of it.
func BenchmarkIntake(b *testing.B) {
	v := &Verifier{ServerSecret: testServerSecret, Now: func() time.Time { return testNow }}
	r := signed{body: channelUpdateBody, subType: eventsub.TypeChannelUpdate}.request(b, "0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	b.SetBytes(int64(len(channelUpdateBody)))
	for b.Loop() {
		r.Body = io.NopCloser(strings.NewReader(channelUpdateBody))
		msg, err := v.Verify(r, "0123456789abcdef0123456789abcdef")
		if err != nil {
			b.Fatal(err)
		}
		ev, err := Normalize(msg)
		if err != nil {
			b.Fatal(err)
		}
		_ = ev.AppendJSON(nil)
	}
}
