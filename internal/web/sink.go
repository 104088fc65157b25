package web

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// HubSink hands the relay's verified events and feed statuses to the hub, encoded once.
type HubSink struct {
	Hub    *hub.Hub
	Logger *slog.Logger
}

// Event publishes a normalised Twitch event to the session's sockets; it never blocks.
func (h HubSink) Event(sessionID string, ev webhook.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		h.Logger.Error("encode event", "event_type", ev.Type, "err", err)
		return
	}
	// The frame's time is when the callback was verified (now); the event carries Twitch's own.
	// Valid: json.Marshal's output needs no second scan in Publish.
	h.Hub.Publish(sessionID, hub.Message{Type: "event_updated", Event: b, Time: time.Now(), Valid: true})
}

// Status sends the session's feed statuses as its latest state.
func (h HubSink) Status(sessionID string, feeds []relay.FeedStatus) {
	h.Hub.SendState(sessionID, statusFrame(feeds))
}

type feedStatusFrame struct {
	Type  string       `json:"type"`
	Feeds []feedStatus `json:"feeds"`
}

type feedStatus struct {
	Feed   string `json:"feed"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func statusFrame(feeds []relay.FeedStatus) []byte {
	f := feedStatusFrame{Type: "feed_status"}
	for _, v := range feedViews(feeds) {
		f.Feeds = append(f.Feeds, feedStatus{Feed: v.Feed, Name: v.Name, Status: v.Status, Reason: v.Reason})
	}
	b, _ := json.Marshal(f)
	return b
}
