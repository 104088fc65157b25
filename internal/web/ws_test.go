package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
)

// watcher is a person on the stream page whose subscriptions Twitch has enabled, so that
// triggered events have somewhere to go.
func watcher(t *testing.T, h *apptest.Harness, login, streamer string) (*apptest.Browser, *apptest.Socket) {
	t.Helper()
	b, s := h.Watch(t, login, streamer)
	h.WaitSettled(t)
	return b, s
}

func nextEvent(t *testing.T, s *apptest.Socket) apptest.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	f, err := s.NextEvent(ctx)
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
	return f
}

func TestEventsReachTheRightSocketOnly(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, a := watcher(t, h, "lurker_lou", "pixelpaladin")
	_, b := watcher(t, h, "quietquinn", "cozycrafter")
	ctx := t.Context()

	if _, err := h.Sim.UpdateChannel(ctx, "pixelpaladin", "Speedrun night", "Celeste"); err != nil {
		t.Fatal(err)
	}
	f := nextEvent(t, a)
	if f.Event.Type != "channel.update" || f.Event.Title != "Speedrun night" || f.Event.Category != "Celeste" || f.Seq != 1 {
		t.Fatalf("a got %s", f.Raw)
	}
	if _, err := h.Sim.UpdateUser(ctx, "cozycrafter", "Knitting and chill"); err != nil {
		t.Fatal(err)
	}
	// b's first event must be its own streamer's: pixelpaladin's never reached it.
	if f := nextEvent(t, b); f.Event.Type != "user.update" || f.Seq != 1 {
		t.Fatalf("b got %s", f.Raw)
	}
}

func TestEveryFeedEventArrives(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	// The streamer watches their own channel: every feed is available.
	_, s := watcher(t, h, "nightowl_tv", "nightowl_tv")
	ctx := t.Context()
	if u, _ := h.Sim.User("nightowl_tv"); u.Stream != nil {
		if _, err := h.Sim.EndStream(ctx, "nightowl_tv"); err != nil {
			t.Fatal(err)
		}
		if f := nextEvent(t, s); f.Event.Type != "stream.offline" {
			t.Fatalf("got %s", f.Raw)
		}
	}
	first := s.LastSeq
	steps := []struct {
		do   func() error
		typ  string
		want string
	}{
		{func() error { _, err := h.Sim.Follow(ctx, "quietquinn", "nightowl_tv"); return err }, "channel.follow", "QuietQuinn followed"},
		{func() error {
			_, err := h.Sim.GoLive(ctx, "nightowl_tv", "Late night chill", "Just Chatting")
			return err
		}, "stream.online", "Went live"},
		{func() error { _, err := h.Sim.UpdateChannel(ctx, "nightowl_tv", "New title", "Art"); return err }, "channel.update", "New title"},
		{func() error { _, err := h.Sim.UpdateUser(ctx, "nightowl_tv", "hello"); return err }, "user.update", "Profile updated"},
		{func() error { _, err := h.Sim.EndStream(ctx, "nightowl_tv"); return err }, "stream.offline", "Stream ended"},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		f := nextEvent(t, s)
		if f.Event.Type != st.typ || !strings.Contains(f.Event.Summary, st.want) || f.Seq != first+uint64(i+1) {
			t.Fatalf("step %d: got %s, want %s containing %q", i, f.Raw, st.typ, st.want)
		}
	}
}

func TestTwoTabsBothReceive(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, tab1 := watcher(t, h, "modmaria", "pixelpaladin")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tab2, err := b.Connect(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tab2.Close()
	if _, err := h.Sim.Follow(t.Context(), "gamergrace", "pixelpaladin"); err != nil {
		t.Fatal(err)
	}
	f1, f2 := nextEvent(t, tab1), nextEvent(t, tab2)
	if f1.Event.ID != f2.Event.ID || f1.Seq != f2.Seq || f1.Event.Type != "channel.follow" {
		t.Fatalf("tabs differ: %s vs %s", f1.Raw, f2.Raw)
	}
}

func TestReconnectGetsExactlyTheMissedEvents(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, s := watcher(t, h, "chatterbox42", "speedy_sam")
	ctx := t.Context()
	if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", "one", ""); err != nil {
		t.Fatal(err)
	}
	first := nextEvent(t, s)
	s.Close() // the laptop lid closes
	for _, title := range []string{"two", "three"} {
		if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", title, ""); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s2, err := b.Connect(cctx, first.Epoch, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, want := range []string{"two", "three"} {
		f := nextEvent(t, s2)
		if f.Event.Title != want {
			t.Fatalf("after reconnect got %s, want title %q", f.Raw, want)
		}
	}
	if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", "four", ""); err != nil {
		t.Fatal(err)
	}
	if f := nextEvent(t, s2); f.Event.Title != "four" || f.Seq != 4 {
		t.Fatalf("live after backlog: %s", f.Raw)
	}
}

// TestBacklogComesAsOneBatch: what waits for a socket when it connects (the feed statuses and
// the missed events) comes in one message after the welcome, a JSON array of the frames in
// order (docs/PROTOCOL.md, "Batches"); a lone live event then comes as itself.
func TestBacklogComesAsOneBatch(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, s := watcher(t, h, "chatterbox42", "speedy_sam")
	ctx := t.Context()
	if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", "one", ""); err != nil {
		t.Fatal(err)
	}
	first := nextEvent(t, s)
	s.Close()
	for _, title := range []string{"two", "three"} {
		if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", title, ""); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s2, err := b.Connect(cctx, first.Epoch, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var got []string
	for len(got) < 2 {
		_, msg, err := s2.Conn.Read(cctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		frames, err := client.DecodeMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, f := range frames {
			types = append(types, f.Type+titleOf(f))
		}
		got = append(got, fmt.Sprintf("%t%v", msg[0] == '[', types))
	}
	want := []string{"false[welcome]", "true[feed_status event_updated:two event_updated:three]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages (batch? frames) %v, want %v", got, want)
	}
	if _, err := h.Sim.UpdateChannel(ctx, "speedy_sam", "four", ""); err != nil {
		t.Fatal(err)
	}
	_, msg, err := s2.Conn.Read(cctx)
	if err != nil || msg[0] != '{' || !strings.Contains(string(msg), `"title":"four"`) {
		t.Fatalf("a lone live event: %v %.120s, want it as a frame of its own", err, msg)
	}
}

func titleOf(f client.Frame) string {
	if f.Event == nil {
		return ""
	}
	return ":" + f.Event.Title
}

// TestThousandEventsInOrder: a burst of 1,000 title changes reaches the page, every one once
// and in order. The burst may outrun the socket, which the server then closes with 4000 by
// design; the socket comes back as the page does and resumes from its last seq, and the
// Socket fails on a missing or repeated seq or event id and on a history_gap.
func TestThousandEventsInOrder(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s := watcher(t, h, "lurker_lou", "cozycrafter")
	s.ResumeOnClose(apptest.MaxResumes)
	const n = 1000
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := h.Sim.UpdateChannel(context.Background(), "cozycrafter", fmt.Sprintf("title %d", i), ""); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	first := s.LastSeq + 1
	for i := range n {
		f, err := s.NextEvent(ctx)
		if err != nil {
			t.Fatalf("event %d of %d (after %d resumes): %v", i, n, s.Resumes(), err)
		}
		if want := fmt.Sprintf("title %d", i); f.Event.Title != want || f.Seq != first+uint64(i) {
			t.Fatalf("event %d: seq %d title %q, want seq %d title %q", i, f.Seq, f.Event.Title, first+uint64(i), want)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("observed: %d events once each, in order, with %d resumes", n, s.Resumes())
}

func TestSlowReaderIsDroppedAndLosesNothing(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, s := watcher(t, h, "h4x0r", "nightowl_tv")
	sid := sessionIDOf(t, h, "nightowl_tv")
	// The reader stops reading while big frames keep coming: they fill the socket buffers,
	// then more waits for it than the history holds (1 MiB): a stall, not a burst.
	big, _ := json.Marshal(map[string]any{"type": "channel.update", "summary": "padding", "title": strings.Repeat("x", 60<<10)})
	const most = 400 // 24 MiB
	n := uint64(0)
	for n < most && h.App.Hub.Stats().Slow == 0 {
		n = h.App.Hub.Publish(sid, hub.Message{Type: "event_updated", Event: big})
	}
	if h.App.Hub.Stats().Slow == 0 {
		t.Fatalf("a reader that read nothing while %d frames of 60 KiB were published was not dropped", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var closeErr error
	for {
		if _, err := s.Next(ctx); err != nil {
			closeErr = err
			break
		}
	}
	if websocket.CloseStatus(closeErr) != 4000 {
		t.Fatalf("slow reader closed with %v, want 4000", closeErr)
	}
	s2, err := b.Connect(ctx, s.Epoch, s.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for want := s.LastSeq + 1; want <= n; want++ {
		f, err := s2.NextEvent(ctx)
		if err != nil || f.Seq != want {
			t.Fatalf("resume: seq %d (%v), want %d: a gap", f.Seq, err, want)
		}
	}
}

// sessionIDOf finds the relay session id from the simulator's subscription callback.
func sessionIDOf(t *testing.T, h *apptest.Harness, streamerLogin string) string {
	t.Helper()
	u, _ := h.Sim.User(streamerLogin)
	for _, s := range h.Sim.Subscriptions() {
		if s.Condition["broadcaster_user_id"] == u.ID || s.Condition["user_id"] == u.ID {
			i := strings.LastIndex(s.Transport.Callback, "/")
			return s.Transport.Callback[i+1:]
		}
	}
	t.Fatalf("no subscription for %s", streamerLogin)
	return ""
}

func TestSocketRefusals(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	b, live := watcher(t, h, "modmaria", "pixelpaladin")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	t.Run("foreign origin", func(t *testing.T) {
		hdr := http.Header{"Origin": {"https://evil.example"}}
		for _, c := range b.Jar.Cookies(mustURL(h.URL)) {
			hdr.Add("Cookie", c.Name+"="+c.Value)
		}
		_, resp, err := websocket.Dial(ctx, "ws://"+h.Addr+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: err %v resp %v", err, resp)
		}
	})
	for _, tt := range []struct {
		name   string
		cookie string
	}{{"no cookie", ""}, {"forged cookie", "twitchrelay_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{"Origin": {h.URL}}
			if tt.cookie != "" {
				hdr.Set("Cookie", tt.cookie)
			}
			c, _, err := websocket.Dial(ctx, "ws://"+h.Addr+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			_, _, err = c.Read(ctx)
			if websocket.CloseStatus(err) != 4401 {
				t.Fatalf("got %v, want close 4401", err)
			}
		})
	}
	bad := []struct {
		name string
		typ  websocket.MessageType
		msg  string
		code websocket.StatusCode
	}{
		{"not json", websocket.MessageText, "hello", 4400},
		{"unknown type", websocket.MessageText, `{"type":"subscribe_all"}`, 4400},
		{"no type", websocket.MessageText, `{"last_seq":1}`, 4400},
		{"binary", websocket.MessageBinary, `{"type":"stream_connected"}`, 4400},
		{"huge frame", websocket.MessageText, `{"type":"stream_connected","pad":"` + strings.Repeat("x", 8<<10) + `"}`, websocket.StatusMessageTooBig},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.DialWS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, tt.typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			for {
				_, _, err = c.Read(ctx)
				if err != nil {
					break
				}
			}
			if got := websocket.CloseStatus(err); got != tt.code {
				t.Fatalf("got %v (%d), want close %d", err, got, tt.code)
			}
		})
	}
	// None of that disturbed the healthy socket of the same session.
	if _, err := h.Sim.Follow(t.Context(), "quietquinn", "pixelpaladin"); err != nil {
		t.Fatal(err)
	}
	if f := nextEvent(t, live); f.Event.Type != "channel.follow" {
		t.Fatalf("healthy socket got %s", f.Raw)
	}
}

func TestShutdownSaysGoingAway(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	_, s := watcher(t, h, "quietquinn", "cozycrafter")
	h.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = s.Next(ctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		var ce websocket.CloseError
		t.Fatalf("on shutdown got %v (close error: %v), want 1001", err, errors.As(err, &ce))
	}
}

// "Channels they follow" has no EventSub: for your own channel it is polled and diffed.
func TestFollowingFeedIsPolled(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Env: map[string]string{"FOLLOWING_POLL_INTERVAL": "1s"}})
	_, s := watcher(t, h, "speedy_sam", "speedy_sam")
	sid := sessionIDOf(t, h, "speedy_sam")
	apptest.Wait(t, 10*time.Second, "the following feed's first poll", func() bool {
		for _, f := range h.App.Relay.Statuses(sid) {
			if f.Feed == "following" {
				return f.Status == "active"
			}
		}
		return false
	})
	if _, err := h.Sim.Follow(t.Context(), "speedy_sam", "cozycrafter"); err != nil {
		t.Fatal(err)
	}
	f := nextEvent(t, s)
	if f.Event.Type != "user.follows" || !strings.Contains(f.Event.Summary, "followed CozyCrafter") {
		t.Fatalf("got %s, want Speedy_Sam followed CozyCrafter", f.Raw)
	}
}
