package store

import (
	"context"
	"maps"
	"sync"
	"time"
)

// Record is the part of a session's lifecycle state that must survive a restart and be
// visible to every instance: whom it watches, which subscriptions it references (those it
// created and those it shares with other sessions: Reconcile rebuilds the sharing from
// them), its lease.
type Record struct {
	SessionID  string
	UserID     string
	UserLogin  string
	Streamer   Streamer            // the channel it watches
	LeaseUntil time.Time           // zero while a socket is open
	Subs       map[string]OwnedSub // by subscription id
	// FollowsSeen is how far the following feed has accounted for the user's follows: the
	// newest followed_at its poller has seen (or the time of a poll that found none). An
	// instance that adopts the session emits what was followed after it instead of taking
	// its first poll as a silent baseline. Zero before the first poll.
	FollowsSeen time.Time
}

// Streamer is the channel a relay session watches.
type Streamer struct {
	ID, Login, DisplayName string
}

// OwnedSub is a subscription a session references (it may share it with others).
type OwnedSub struct {
	ID     string `json:"id"`
	Feed   string `json:"feed"`
	Type   string `json:"type"`
	Status string `json:"status"` // a feed status (relay's Status* words)
}

// relayStore is the contract both implementations keep (the relay defines the interface it
// consumes; this copy is what the tests check). Every write takes a TTL so abandoned sessions
// expire by themselves. Errors are returned, never panicked: the caller logs and, in a
// request, answers 503.
type relayStore interface {
	// Load returns a session's record; ok is false if there is none.
	Load(ctx context.Context, sessionID string) (rec Record, ok bool, err error)
	// Save replaces a session's record (subscriptions included).
	Save(ctx context.Context, rec Record, ttl time.Duration) error
	// SaveSub adds or replaces one owned subscription.
	SaveSub(ctx context.Context, sessionID string, sub OwnedSub, ttl time.Duration) error
	// DeleteSub forgets one owned subscription.
	DeleteSub(ctx context.Context, sessionID, subID string) error
	// Touch sets the lease deadlines of sessions that exist and renews their TTL, in one batch.
	Touch(ctx context.Context, leases map[string]time.Time, ttl time.Duration) error
	// SaveFollowsSeen sets the FollowsSeen of a session that exists.
	SaveFollowsSeen(ctx context.Context, sessionID string, seen time.Time) error
	// Delete forgets a session.
	Delete(ctx context.Context, sessionID string) error
	// List returns every unexpired record.
	List(ctx context.Context) ([]Record, error)
}

// MemoryRelay keeps relay Records in process memory, for a single instance without Redis.
type MemoryRelay struct {
	mu   sync.Mutex
	now  func() time.Time
	recs map[string]memRecord
}

type memRecord struct {
	rec     Record
	expires time.Time
}

// NewMemoryRelay returns an empty MemoryRelay.
func NewMemoryRelay() *MemoryRelay {
	return &MemoryRelay{now: time.Now, recs: make(map[string]memRecord)}
}

// get returns a live record. Caller holds mu.
func (s *MemoryRelay) get(id string) (memRecord, bool) {
	r, ok := s.recs[id]
	if ok && !s.now().Before(r.expires) {
		delete(s.recs, id)
		return memRecord{}, false
	}
	return r, ok
}

func cloneRecord(r Record) Record {
	r.Subs = maps.Clone(r.Subs)
	if r.Subs == nil {
		r.Subs = map[string]OwnedSub{}
	}
	return r
}

// Load implements the relay's Store.
func (s *MemoryRelay) Load(_ context.Context, id string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(id)
	if !ok {
		return Record{}, false, nil
	}
	return cloneRecord(r.rec), true, nil
}

// Save implements the relay's Store.
func (s *MemoryRelay) Save(_ context.Context, rec Record, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[rec.SessionID] = memRecord{rec: cloneRecord(rec), expires: s.now().Add(ttl)}
	return nil
}

// SaveSub implements the relay's Store. A sub for a session without a record is dropped, as in Redis
// where the record would have expired.
func (s *MemoryRelay) SaveSub(_ context.Context, id string, sub OwnedSub, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.get(id)
	if !ok {
		return nil
	}
	r.rec.Subs[sub.ID] = sub
	r.expires = s.now().Add(ttl)
	s.recs[id] = r
	return nil
}

// DeleteSub implements the relay's Store.
func (s *MemoryRelay) DeleteSub(_ context.Context, id, subID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.get(id); ok {
		delete(r.rec.Subs, subID)
	}
	return nil
}

// Touch implements the relay's Store.
func (s *MemoryRelay) Touch(_ context.Context, leases map[string]time.Time, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, until := range leases {
		if r, ok := s.get(id); ok {
			r.rec.LeaseUntil = until
			r.expires = s.now().Add(ttl)
			s.recs[id] = r
		}
	}
	return nil
}

// SaveFollowsSeen implements the relay's Store.
func (s *MemoryRelay) SaveFollowsSeen(_ context.Context, id string, seen time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.get(id); ok {
		r.rec.FollowsSeen = seen
		s.recs[id] = r
	}
	return nil
}

// Delete implements the relay's Store.
func (s *MemoryRelay) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, id)
	return nil
}

// List implements the relay's Store.
func (s *MemoryRelay) List(_ context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.recs))
	for id := range s.recs {
		if r, ok := s.get(id); ok {
			out = append(out, cloneRecord(r.rec))
		}
	}
	return out, nil
}

// SharedSub is an entry of the instances' registry of shared webhook subscriptions
// (internal/lock's Shares, relay.Registry): Twitch's id, the session in its callback URL,
// a feed status.
type SharedSub struct {
	ID, Creator, Status string
}
