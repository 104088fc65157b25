package twitchsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
)

// timestampLayout is RFC 3339 with nine fraction digits, as Twitch sends it.
const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Delivery is the outcome of sending one message to one callback (with its retries).
type Delivery struct {
	SubscriptionID string
	MessageID      string
	MessageType    string // notification, revocation or webhook_callback_verification
	Callback       string
	Status         int   // HTTP status of the last attempt; 0 after a transport error
	Attempts       int   // 1 + retries made
	Err            error // nil when the callback answered 2xx
}

// message is one signed EventSub message ready to send.
type message struct {
	id, typ string
	sub     eventsub.Subscription
	secret  string
	body    []byte
	skew    time.Duration
}

// deliveryClient returns the client for callbacks: redirects are never followed.
func deliveryClient(base *http.Client) *http.Client {
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if base != nil {
		cp := *base
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// post sends m once with the given retry number and returns the status and up to
// maxCallbackAnswer bytes of the answer.
func (s *Sim) post(ctx context.Context, m message, retry int) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.sub.Transport.Callback, bytes.NewReader(m.body))
	if err != nil {
		return nil, nil, err
	}
	ts := s.now().Add(m.skew).UTC().Format(timestampLayout)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "twitchsim-eventsub/1")
	h.Set(eventsub.HeaderMessageID, m.id)
	h.Set(eventsub.HeaderMessageRetry, strconv.Itoa(retry))
	h.Set(eventsub.HeaderMessageType, m.typ)
	h.Set(eventsub.HeaderMessageTimestamp, ts)
	h.Set(eventsub.HeaderMessageSignature, eventsub.Signature([]byte(m.secret), m.id, ts, m.body))
	h.Set(eventsub.HeaderSubscriptionType, m.sub.Type)
	h.Set(eventsub.HeaderSubscriptionVersion, m.sub.Version)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallbackAnswer))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxCallbackAnswer)) // let the connection be reused
	return resp, body, err
}

// send delivers m, retrying a non-2xx answer or a transport error with the same message id
// and an incremented Twitch-Eventsub-Message-Retry.
func (s *Sim) send(ctx context.Context, m message) Delivery {
	d := Delivery{SubscriptionID: m.sub.ID, MessageID: m.id, MessageType: m.typ, Callback: m.sub.Transport.Callback}
	for retry := 0; retry <= s.cfg.DeliveryRetries; retry++ {
		if retry > 0 && !wait(ctx, s.cfg.RetryBackoff) {
			break
		}
		d.Attempts++
		resp, _, err := s.post(ctx, m, retry)
		d.Status, d.Err = 0, err
		if err == nil {
			d.Status = resp.StatusCode
			if resp.StatusCode/100 == 2 {
				return d
			}
			d.Err = fmt.Errorf("callback answered %d", resp.StatusCode)
		}
		s.log.Debug("delivery failed", "subscription_id", m.sub.ID, "message_type", m.typ, "retry", retry, "err", d.Err)
	}
	if ctx.Err() != nil && d.Err == nil {
		d.Err = ctx.Err()
	}
	return d
}

// deliveryCtx returns ctx, also cancelled when the simulator closes.
func (s *Sim) deliveryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// wait waits for d or ctx and reports whether d elapsed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// verify sends the webhook_callback_verification of a new subscription and enables it only
// if the answer is 200, text/plain and exactly the challenge. It runs once, in the background.
func (s *Sim) verify(ctx context.Context, id string) {
	s.mu.Lock()
	sb, ok := s.subs[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	pub, secret := sb.Subscription, sb.secret
	s.mu.Unlock()

	challenge := randomToken(40)
	body, _ := json.Marshal(struct {
		Challenge    string                `json:"challenge"`
		Subscription eventsub.Subscription `json:"subscription"`
	}{challenge, pub})
	m := message{id: newUUID(), typ: eventsub.MessageTypeVerification, sub: pub, secret: secret, body: body}
	// A challenge whose answer never arrived (no HTTP answer at all: the connection failed or
	// was cut) is sent again with the same message id, like a notification; any answer that
	// arrived is judged as it is.
	var resp *http.Response
	var answer []byte
	var err error
	for retry := 0; retry <= s.cfg.DeliveryRetries; retry++ {
		if retry > 0 && !wait(ctx, s.cfg.RetryBackoff) {
			break
		}
		if resp, answer, err = s.post(ctx, m, retry); err == nil {
			break
		}
		s.log.Debug("challenge delivery failed", "subscription_id", id, "retry", retry, "err", err)
	}
	if err == nil {
		err = checkChallenge(resp, answer, challenge)
	}
	status := eventsub.StatusEnabled
	if err != nil {
		status = eventsub.StatusVerificationFailed
		s.log.Info("callback verification failed", "subscription_id", id, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb, ok := s.subs[id]; ok && sb.Status == eventsub.StatusVerificationPending {
		sb.Status = status
		s.notifyChanged()
	}
}

// checkChallenge applies Twitch's rule for a verification answer.
func checkChallenge(resp *http.Response, answer []byte, challenge string) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("callback answered %d, want 200", resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return fmt.Errorf("callback answered Content-Type %q, want text/plain", ct)
	}
	if string(answer) != challenge {
		return errors.New("callback answer is not exactly the challenge")
	}
	return nil
}

// notifyChanged wakes everyone waiting for a subscription change. Caller holds mu.
func (s *Sim) notifyChanged() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitVerified waits until the verification of subscription id has finished and returns
// the subscription (status enabled or webhook_callback_verification_failed).
func (s *Sim) WaitVerified(ctx context.Context, id string) (eventsub.Subscription, error) {
	return s.WaitSubscription(ctx, id, func(sub eventsub.Subscription) bool {
		return sub.Status != eventsub.StatusVerificationPending
	})
}

// WaitSubscription waits until subscription id satisfies cond and returns it.
func (s *Sim) WaitSubscription(ctx context.Context, id string, cond func(eventsub.Subscription) bool) (eventsub.Subscription, error) {
	for {
		s.mu.Lock()
		sb, ok := s.subs[id]
		var pub eventsub.Subscription
		if ok {
			pub = sb.public()
		}
		changed := s.changed
		s.mu.Unlock()
		if !ok {
			return eventsub.Subscription{}, fmt.Errorf("%w: %s", ErrUnknownSubscription, id)
		}
		if cond(pub) {
			return pub, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return pub, fmt.Errorf("twitchsim: waiting for subscription %s (status %s): %w", id, pub.Status, ctx.Err())
		}
	}
}
