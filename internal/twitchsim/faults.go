package twitchsim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault makes the next Count requests to Path (and Method) fail or stall, to test a
// client's retries. It applies to Helix (after authentication and rate limiting, so the
// Ratelimit-* headers are present) and to the OAuth endpoints.
type Fault struct {
	Path   string        // exact request path, e.g. "/helix/eventsub/subscriptions"
	Method string        // "" matches every method
	Status int           // answer with this status; 0 only delays and then serves normally
	Count  int           // how many matching requests; 0 means 1
	Delay  time.Duration // wait this long first (or until the client gives up)
}

// InjectFault queues a fault; faults match in the order they were injected. A 429 fault
// answers like an empty bucket (Ratelimit-Remaining 0, Ratelimit-Reset one second ahead);
// other statuses answer with the error body of the host (Helix or id.twitch.tv).
func (s *Sim) InjectFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// takeFault consumes one use of the first fault matching r.
func (s *Sim) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Path != r.URL.Path || (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) {
			continue
		}
		f.Count--
		if f.Count == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return *f, true
	}
	return Fault{}, false
}

// applyFault serves a matching fault and reports whether it wrote the response.
func (s *Sim) applyFault(w http.ResponseWriter, r *http.Request, helix bool) bool {
	f, ok := s.takeFault(r)
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-s.ctx.Done():
		}
	}
	if f.Status == 0 {
		return false
	}
	msg := "injected fault"
	if f.Status == http.StatusTooManyRequests {
		h := w.Header()
		h.Set("Ratelimit-Limit", strconv.Itoa(s.cfg.RateLimitPoints))
		h.Set("Ratelimit-Remaining", "0")
		h.Set("Ratelimit-Reset", strconv.FormatInt(ceilUnix(s.now().Add(time.Second)), 10))
		msg = "Too Many Requests"
	}
	if helix {
		helixError(w, f.Status, msg)
	} else {
		idError(w, f.Status, msg)
	}
	return true
}

// deliveryPause holds event deliveries after a number of them (PauseDeliveries).
type deliveryPause struct {
	left int           // deliveries still let through
	ch   chan struct{} // closed by resume
}

// PauseDeliveries lets the next after event notifications through and then holds every
// further one (the trigger methods wait) until resume is called, so a test can act in the
// middle of a burst such as a community gift. Challenges and revocations are not held.
func (s *Sim) PauseDeliveries(after int) (resume func()) {
	p := &deliveryPause{left: after, ch: make(chan struct{})}
	s.mu.Lock()
	s.pause = p
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.pause == p {
				s.pause = nil
			}
			s.mu.Unlock()
			close(p.ch)
		})
	}
}

// pauseGate lets one notification through or holds it while a pause is on.
func (s *Sim) pauseGate(ctx context.Context) {
	s.mu.Lock()
	p := s.pause
	if p == nil || p.left > 0 {
		if p != nil {
			p.left--
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	select {
	case <-p.ch:
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
}
