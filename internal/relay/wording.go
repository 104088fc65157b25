package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// Everything a person reads about feeds is in this file: the feeds' names, the reasons shown
// next to a feed that is not active, and the feed_status frame that carries them to the page
// (docs/PROTOCOL.md). Plain words, no Twitch jargon where avoidable.

// feedNames are the feeds as the page names them.
var feedNames = map[string]string{
	FeedFollowedBy:     "New followers",
	FeedFollowing:      "Channels they follow",
	FeedStreamChanged:  "Live, offline & title",
	FeedUserChanged:    "Profile changes",
	FeedRaids:          "Raids",
	FeedChatHighlights: "Chat highlights",
}

// Reasons the user reads next to a feed.
const (
	reasonNotModerator  = "follower events need you to be a moderator of this channel"
	reasonFollowerScope = "follower events need permission to read your followers: log out and log in again to grant it"
	reasonFollowingOnly = "Twitch has no event for whom a channel follows; only available for your own channel"
	reasonFollowingAuth = "reading whom you follow needs your permission: log out and log in again to grant it"
	reasonNoToken       = "waiting for your Twitch login to be available again"
	reasonVerifyFailed  = "Twitch could not reach this server to confirm the subscription"
	reasonTooMany       = "Twitch allows only 3 identical subscriptions per app; this channel already has them"
	reasonMaxCost       = "this server has reached Twitch's limit on subscriptions; try again later"
	reasonPollFailing   = "Twitch is not answering right now; retrying"
	reasonChatScope     = "you did not allow twitchrelay to read chat notifications (subs, gifts, raids, announcements): log out and log in again to grant it"
	// reasonNeedsWebSocket: the feed goes over the viewer's own Twitch WebSocket session and
	// this relay has none configured (Config.WebSockets); the app always configures them.
	reasonNeedsWebSocket = "this feed comes over your own live connection to Twitch, which this server is not set up to open"
	reasonChatBot        = "Twitch sends chat highlights to this server only for bot accounts; yours is not one"
	// reasonMovedInstance: the user's Twitch WebSocket session moved to another server
	// instance (the one running it stopped, died, or let it go).
	reasonMovedInstance = "your live connection to Twitch moved to another server instance"
)

// reasonMissingScope is the reason of a feed whose scope the viewer did not grant.
func reasonMissingScope(feed string) string {
	if feed == FeedChatHighlights {
		return reasonChatScope
	}
	return "this feed needs a permission you did not grant: log out and log in again to grant it"
}

// reasonStreamerCap is shown on every feed of a session whose user already watches limit
// other streamers (STREAMERS_PER_USER).
func reasonStreamerCap(limit int) string {
	return fmt.Sprintf("your Twitch account is already watching %d other streamers here, the most at once: log out or choose this streamer in one of your other browsers or tabs, then reload this page", limit)
}

// createFailure maps a failed create to a feed status and reason. A 403 means the
// subscription is not possible for this user (unavailable); anything else is a failure that a
// later attempt may fix.
func createFailure(typ string, s Session, err error) (status, reason string) {
	switch { // the user's own limits first (websocket transport, docs/TWITCH.md §7)
	case errors.Is(err, errNoUserToken):
		return StatusFailed, reasonNoToken
	case errors.Is(err, helix.ErrTooManyConnections):
		return StatusFailed, "Twitch allows 3 live connections per login, and yours are all in use (other apps or servers): close one, then reload"
	case errors.Is(err, helix.ErrSessionFull):
		return StatusFailed, "Twitch's limit of 300 subscriptions on one connection was reached"
	case errors.Is(err, helix.ErrOverCost) && errors.Is(err, errUserToken):
		return StatusFailed, "Twitch's limit for your login was reached (at most 10 subscriptions to channels that have not authorized this app): watch fewer streamers at once"
	case errors.Is(err, helix.ErrUnauthorized) && errors.Is(err, errUserToken):
		return StatusFailed, "Twitch rejected your login: log out and log in again"
	}
	switch {
	case errors.Is(err, helix.ErrForbidden) && typ == eventsub.TypeChannelFollow:
		if s.UserID == s.Streamer.ID {
			return StatusUnavailable, reasonFollowerScope
		}
		return StatusUnavailable, reasonNotModerator
	case errors.Is(err, helix.ErrForbidden) && typ == eventsub.TypeChatNotification:
		return StatusUnavailable, reasonChatBot
	case errors.Is(err, helix.ErrForbidden):
		return StatusUnavailable, "Twitch does not allow this subscription for your account"
	case errors.Is(err, helix.ErrTooManyIdentical):
		return StatusFailed, reasonTooMany
	case errors.Is(err, helix.ErrOverCost):
		return StatusFailed, reasonMaxCost
	case errors.Is(err, helix.ErrRateLimited):
		return StatusFailed, "Twitch's rate limit was reached; try again in a minute"
	case errors.Is(err, helix.ErrUnavailable):
		return StatusFailed, "Twitch is not answering right now; try again in a minute"
	case errors.Is(err, helix.ErrUnauthorized):
		return StatusFailed, "Twitch rejected this server's app credentials"
	case errors.Is(err, helix.ErrBadRequest):
		return StatusFailed, "Twitch rejected the subscription request"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return StatusFailed, "the subscription request was interrupted; reload to try again"
	}
	return StatusFailed, "the subscription could not be created"
}

// reasonTwitchSessionLost says why a feed on the user's Twitch WebSocket session is being
// subscribed again, by the close code the session ended with (docs/TWITCH.md §7).
func reasonTwitchSessionLost(code int) string {
	why := "the connection to Twitch dropped"
	switch code {
	case -1:
		why = "Twitch sent nothing for longer than the keepalive timeout"
	case -2:
		why = "Twitch could not be reached"
	case eventsub.CloseInternalError:
		why = "Twitch had an internal error"
	case eventsub.CloseInboundTraffic:
		why = "Twitch said this server sent it a message it must not send"
	case eventsub.CloseFailedPingPong:
		why = "Twitch's ping went unanswered"
	case eventsub.CloseConnectionUnused:
		why = "Twitch closed a connection nothing was subscribed on in time"
	case eventsub.CloseReconnectGraceEnded:
		why = "Twitch asked to reconnect and the time to do so ran out"
	case eventsub.CloseNetworkTimeout:
		why = "Twitch's network timed out"
	case eventsub.CloseNetworkError:
		why = "Twitch's network failed"
	case eventsub.CloseInvalidReconnect:
		why = "Twitch refused the reconnect"
	}
	return why + "; reconnecting"
}

// revocationReason puts Twitch's revocation status into words.
func revocationReason(status string) string {
	switch status {
	case eventsub.StatusAuthorizationRevoked:
		return "Twitch revoked the permission (the app was disconnected or the password changed)"
	case eventsub.StatusUserRemoved:
		return "the Twitch account no longer exists"
	case eventsub.StatusModeratorRemoved:
		return "you are no longer a moderator of this channel"
	case eventsub.StatusNotificationFailuresExceeded:
		return "Twitch stopped sending after too many failed deliveries"
	case eventsub.StatusVersionRemoved:
		return "Twitch retired this kind of subscription"
	case eventsub.StatusVerificationFailed:
		return reasonVerifyFailed
	}
	return "Twitch ended the subscription (" + status + ")"
}

// twitchStatus maps a Twitch subscription status to a feed status.
func twitchStatus(status string) (string, string) {
	switch status {
	case eventsub.StatusEnabled:
		return StatusActive, ""
	case eventsub.StatusVerificationPending:
		return StatusPending, ""
	case eventsub.StatusVerificationFailed:
		return StatusFailed, reasonVerifyFailed
	}
	return StatusRevoked, revocationReason(status)
}

// statusFrame is the feed_status frame of a session's feeds: its state in the hub, sent to
// every socket and to each new one first.
func statusFrame(feeds []FeedStatus) []byte {
	type feed struct {
		Feed   string `json:"feed"`
		Name   string `json:"name"`
		Status string `json:"status"`
		Reason string `json:"reason,omitempty"`
	}
	f := struct {
		Type  string `json:"type"`
		Feeds []feed `json:"feeds"`
	}{Type: "feed_status", Feeds: make([]feed, 0, len(feeds))}
	for _, fs := range feeds {
		f.Feeds = append(f.Feeds, feed{Feed: fs.Feed, Name: fs.Name, Status: fs.Status, Reason: fs.Reason})
	}
	b, _ := json.Marshal(f) // strings only: it always marshals
	return b
}
