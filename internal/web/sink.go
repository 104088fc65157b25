package web

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// HubSink hands the relay's verified events and feed statuses to the hub. An event fanned
// out to many sessions (a shared subscription) is encoded once, not once per session.
type HubSink struct {
	hub *hub.Hub
	log *slog.Logger

	mu       sync.Mutex
	lastID   string // message id of the last encoded event
	lastJSON []byte
}

// NewHubSink returns a Sink that publishes into h.
func NewHubSink(h *hub.Hub, log *slog.Logger) *HubSink { return &HubSink{hub: h, log: log} }

// Event publishes a normalised Twitch event to the session's sockets; it never blocks.
func (h *HubSink) Event(sessionID string, ev webhook.Event) {
	b, err := h.encode(ev)
	if err != nil {
		h.log.Error("encode event", "event_type", ev.Type, "err", err)
		return
	}
	// The frame's time is when the callback was verified (now); the event carries Twitch's own.
	// Valid: json.Marshal's output needs no second scan in Publish.
	h.hub.Publish(sessionID, hub.Message{Type: "event_updated", Event: b, Time: time.Now(), Valid: true})
}

// encode marshals ev, reusing the previous encoding when the relay hands the same message
// to the next session of a fan-out. Frames are never modified, so sharing the bytes is safe.
func (h *HubSink) encode(ev webhook.Event) ([]byte, error) {
	h.mu.Lock()
	if ev.ID != "" && ev.ID == h.lastID {
		b := h.lastJSON
		h.mu.Unlock()
		return b, nil
	}
	h.mu.Unlock()
	b, err := json.Marshal(ev)
	if err != nil || ev.ID == "" {
		return b, err
	}
	h.mu.Lock()
	h.lastID, h.lastJSON = ev.ID, b
	h.mu.Unlock()
	return b, nil
}

// Status sends the session's feed statuses as its latest state.
func (h *HubSink) Status(sessionID string, feeds []relay.FeedStatus) {
	h.hub.SendState(sessionID, statusFrame(feeds))
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
