package web

import (
	"encoding/json"
	"fmt"

	"github.com/twitchrelay/twitchrelay/internal/relay"
)

// feedWords are the feed states (docs/PROTOCOL.md's feed_status) in a viewer's words. The
// stream page renders them, and its script gets the same map through data-feed-words.
var feedWords = map[string]string{
	"pending":     "Starting…",
	"active":      "On",
	"unavailable": "Not available",
	"failed":      "Could not start",
	"revoked":     "Stopped by Twitch",
}

// feedWord is one state in words.
func feedWord(status string) string {
	if w, ok := feedWords[status]; ok {
		return w
	}
	return status
}

// feedWordsJSON is feedWords for the page's script.
func feedWordsJSON() string {
	b, _ := json.Marshal(feedWords)
	return string(b)
}

// feedSummary is the feeds panel's one line: "All 4 on", "3 of 4 on · 1 not available".
// The page's script computes the same line when the states change.
func feedSummary(feeds []relay.FeedStatus) string {
	on, pending := 0, 0
	for _, f := range feeds {
		switch f.Status {
		case "active":
			on++
		case "pending":
			pending++
		}
	}
	switch {
	case pending > 0:
		return "Starting…"
	case on == len(feeds):
		return fmt.Sprintf("All %d on", on)
	}
	return fmt.Sprintf("%d of %d on · %d not available", on, len(feeds), len(feeds)-on)
}
