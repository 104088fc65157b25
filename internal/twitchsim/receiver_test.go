package twitchsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// received is one message as the callback saw it.
type received struct {
	typ, id, retry, timestamp, subType, subVersion string
	body                                           []byte
	validSig                                       bool
}

// payload decodes the body.
func (m received) payload(t *testing.T) (sub eventsub.Subscription, event map[string]any, challenge string) {
	t.Helper()
	var p struct {
		Subscription eventsub.Subscription `json:"subscription"`
		Event        map[string]any        `json:"event"`
		Challenge    string                `json:"challenge"`
	}
	if err := json.Unmarshal(m.body, &p); err != nil {
		t.Fatalf("callback body %q: %v", m.body, err)
	}
	return p.Subscription, p.Event, p.Challenge
}

// answerFunc decides the callback's answer; challenge is set for verifications.
type answerFunc func(m received, challenge string) (status int, contentType, body string)

// correctAnswer is what a well-behaved receiver answers.
func correctAnswer(m received, challenge string) (int, string, string) {
	switch {
	case !m.validSig:
		return http.StatusForbidden, "text/plain", "bad signature"
	case m.typ == eventsub.MessageTypeVerification:
		return http.StatusOK, "text/plain; charset=utf-8", challenge
	}
	return http.StatusNoContent, "", ""
}

// receiver is a webhook callback server that records every message.
type receiver struct {
	srv     *httptest.Server
	secret  string
	arrived chan received

	mu     sync.Mutex
	msgs   []received
	answer answerFunc
}

func newReceiver(t *testing.T, secret string, answer answerFunc) *receiver {
	t.Helper()
	if answer == nil {
		answer = correctAnswer
	}
	rc := &receiver{secret: secret, answer: answer, arrived: make(chan received, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/callback" }

func (rc *receiver) setAnswer(a answerFunc) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = a
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := r.Header
	m := received{
		typ: h.Get(eventsub.HeaderMessageType), id: h.Get(eventsub.HeaderMessageID),
		retry: h.Get(eventsub.HeaderMessageRetry), timestamp: h.Get(eventsub.HeaderMessageTimestamp),
		subType: h.Get(eventsub.HeaderSubscriptionType), subVersion: h.Get(eventsub.HeaderSubscriptionVersion),
		body: body,
	}
	m.validSig = r.Method == http.MethodPost && h.Get("Content-Type") == "application/json" &&
		eventsub.ValidSignature([]byte(rc.secret), m.id, m.timestamp, body, h.Get(eventsub.HeaderMessageSignature))
	var challenge string
	if m.typ == eventsub.MessageTypeVerification {
		var p struct {
			Challenge string `json:"challenge"`
		}
		json.Unmarshal(body, &p)
		challenge = p.Challenge
	}
	rc.mu.Lock()
	rc.msgs = append(rc.msgs, m)
	answer := rc.answer
	rc.mu.Unlock()
	status, ctype, out := answer(m, challenge)
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	io.WriteString(w, out)
	rc.arrived <- m
}

// messages returns the messages of one type received so far ("" = all).
func (rc *receiver) messages(typ string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, m := range rc.msgs {
		if typ == "" || m.typ == typ {
			out = append(out, m)
		}
	}
	return out
}
