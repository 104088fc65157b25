package web

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// Log volume from unauthenticated input: a refusal costs a stranger one request and would
// cost us one log line, so refusals are sampled, and what an attacker wrote is cut short.
const (
	refusalLogWindow = 10 * time.Second // per outcome: the first refusalLogFirst of each window are logged,
	refusalLogFirst  = 10               // the rest counted in one line when the next window starts
	logFieldMax      = 200              // bytes kept of a field the sender chose (message id, OAuth error)
)

// sampledOutcomes are the callback refusals anyone can cause without the webhook secret.
// (A duplicate or a store failure comes with a valid signature: each is logged.)
var sampledOutcomes = map[string]bool{"too_large": true, "malformed_headers": true, "bad_signature": true, "stale": true, "error": true}

// logSampler decides, per outcome, which occurrences are logged: the first refusalLogFirst in
// each refusalLogWindow. The zero value is ready to use.
type logSampler struct {
	mu  sync.Mutex
	win map[string]*sampleWindow
}

type sampleWindow struct {
	start      time.Time
	n          int // occurrences in the window
	suppressed int
}

// allow reports whether this occurrence of outcome at now is to be logged and, when a new
// window starts, how many the previous window suppressed and how long it ran.
func (l *logSampler) allow(outcome string, now time.Time) (ok bool, suppressed int, window time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.win == nil {
		l.win = map[string]*sampleWindow{}
	}
	w := l.win[outcome]
	if w == nil || now.Sub(w.start) >= refusalLogWindow {
		if w != nil {
			suppressed, window = w.suppressed, now.Sub(w.start)
		}
		w = &sampleWindow{start: now}
		l.win[outcome] = w
	}
	w.n++
	if w.n > refusalLogFirst {
		w.suppressed++
		return false, suppressed, window
	}
	return true, suppressed, window
}

// logRefusedWebhook is logWebhook for a callback the verifier refused: always counted in
// metrics; logged only as the sampler allows, with the sender's fields cut to logFieldMax.
// The suppressed ones are summed up in one line when the next window starts.
func (s *Server) logRefusedWebhook(ctx context.Context, sid string, msg *webhook.Message, code int, outcome string, err error, start time.Time) {
	if !sampledOutcomes[outcome] {
		s.logWebhook(ctx, sid, msg, code, outcome, err, start)
		return
	}
	ok, suppressed, window := s.refusalLogs.allow(outcome, start)
	if suppressed > 0 {
		s.log.InfoContext(ctx, fmt.Sprintf("suppressed %d %s callbacks in the last %s", suppressed, outcome, window.Round(time.Second)),
			"outcome", outcome, "suppressed", suppressed)
	}
	if msg != nil {
		// The sender chose these: cut them, and keep the metric's event_type label to the
		// types we know, so that made-up ones cannot create series without end.
		m := *msg
		m.ID, m.Type, m.SubscriptionType = truncate(m.ID), truncate(m.Type), knownType(m.SubscriptionType)
		msg = &m
	}
	if !ok {
		var evType string
		if msg != nil {
			evType = msg.SubscriptionType
		}
		s.obs.Webhook(evType, outcome)
		return
	}
	if err != nil {
		err = errors.New(truncate(err.Error()))
	}
	s.logWebhook(ctx, sid, msg, code, outcome, err, start)
}

// knownType is typ if the relay subscribes to it, else "other" ("" stays "").
func knownType(typ string) string {
	switch typ {
	case "", eventsub.TypeChannelFollow, eventsub.TypeStreamOnline, eventsub.TypeStreamOffline, eventsub.TypeChannelUpdate, eventsub.TypeUserUpdate:
		return typ
	}
	return "other"
}

// truncate cuts s to logFieldMax bytes (at a rune boundary), saying how much it dropped.
func truncate(s string) string {
	if len(s) <= logFieldMax {
		return s
	}
	cut := logFieldMax
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes more)", s[:cut], len(s)-cut)
}
