// Package broker carries the hub's events between instances through Redis, so that a
// webhook reaching one instance reaches a page whose socket sits on another, and a page that
// reconnects to another instance resumes where it stopped.
//
// Every event is appended once, by a Lua script, to a capped Redis Stream per relay session
// (entry id "<seq>-0"), numbered by the session's counter in the same script and published on
// one Pub/Sub channel. Each instance's hub (internal/hub, Config.Broker) keeps its own copy
// of the sessions it holds sockets for and delivers to them. The numbering is per session
// with a per-session epoch: a new epoch only when Redis lost the session's counter.
//
// Catching up follows centrifugo's Redis engine: a subscriber is registered only after the
// hub's copy was brought up to date from the stream, with live messages of that session held
// back meanwhile (a per-session lock), duplicates (seq at or below the last) skipped, and a
// gap in the live sequence filled from the stream before the event is applied. When the
// stream no longer has what is missing, the hub says so with a history_gap frame.
//
// A silently dead Pub/Sub subscription is found by a probe: every ProbeInterval this instance
// publishes on the channel and expects to hear something within ProbeTimeout; otherwise, or
// on any connection error, the subscription is rebuilt and every held session is read back
// from the streams.
package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Timeouts and limits.
const (
	DefaultProbeInterval = time.Second     // a probe is published this often
	DefaultProbeTimeout  = 3 * time.Second // no message heard for this long: the subscription is dead
	publishTimeout       = 2 * time.Second // one append (a webhook waits for it)
	readTimeout          = 2 * time.Second // one catch-up read from a stream
	writeRetry           = 500 * time.Millisecond
	maxRebuildBackoff    = 2 * time.Second
	stripes              = 64 // per-session locks, by hash
)

// Config configures a Broker.
type Config struct {
	Redis         redis.UniversalClient
	Keys          store.Keys
	HistorySize   int           // entries kept per session stream (HISTORY_SIZE)
	HistoryAge    time.Duration // a session's stream, counter and state expire this long after its last write (HISTORY_AGE)
	MessageTTL    time.Duration // how long an appended message id is remembered (webhook.DedupeTTL)
	ProbeInterval time.Duration // 0 = DefaultProbeInterval
	ProbeTimeout  time.Duration // 0 = DefaultProbeTimeout
	Logger        *slog.Logger
	// OnRebuild is called when the Pub/Sub subscription broke or went silent and is being
	// rebuilt; OnSubscribed each time a subscription is confirmed and what was missed before
	// it was read back (tests, metrics). Neither may block.
	OnRebuild    func(reason error)
	OnSubscribed func()
	// OnHandover is called when another instance asks for a relay session (RequestHandover);
	// it must not block.
	OnHandover func(sid string)
}

// Broker implements hub.Broker on Redis. Create it with New, give it to hub.Config.Broker and
// run Run with that hub.
type Broker struct {
	cfg      Config
	keys     store.BrokerKeys
	log      *slog.Logger
	instance string
	seed     maphash.Seed
	locks    [stripes]sync.Mutex
	commit   *store.Batcher[*appendReq] // appends waiting for the batch in flight (commit.go)

	// Outgoing state frames and releases, latest per session, written by Run's writer.
	outMu   sync.Mutex
	out     map[string]op
	outKick chan struct{}

	healthy   atomic.Bool
	lastErr   atomic.Pointer[error]
	rebuilds  atomic.Int64
	probeSeen atomic.Int64 // unix ns a message was last heard on the channel
}

// op is a pending state frame (release false) or release of one session.
type op struct {
	frame   []byte
	release bool
}

// New returns a Broker; nothing is sent until Run.
func New(cfg Config) *Broker {
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	rand.Read(b[:])
	br := &Broker{
		cfg:      cfg,
		keys:     cfg.Keys.Broker(),
		log:      cfg.Logger.With("component", "broker"),
		instance: hex.EncodeToString(b[:]),
		seed:     maphash.MakeSeed(),
		out:      map[string]op{},
		outKick:  make(chan struct{}, 1),
	}
	br.commit = br.newCommitter()
	err := errors.New("broker: not subscribed yet")
	br.lastErr.Store(&err)
	return br
}

// Instance is this broker's random id (in its probes and logs).
func (b *Broker) Instance() string { return b.instance }

// Rebuilds is how many times the Pub/Sub subscription was rebuilt.
func (b *Broker) Rebuilds() int64 { return b.rebuilds.Load() }

// Check is the readiness check: nil while the Pub/Sub subscription is known to deliver.
func (b *Broker) Check(context.Context) error {
	if b.healthy.Load() {
		if seen := time.Unix(0, b.probeSeen.Load()); time.Since(seen) <= b.cfg.ProbeTimeout {
			return nil
		}
		return fmt.Errorf("broker: nothing heard on the Pub/Sub channel for %s", b.cfg.ProbeTimeout)
	}
	return *b.lastErr.Load()
}

func (b *Broker) lock(id string) *sync.Mutex {
	return &b.locks[maphash.String(b.seed, id)%stripes]
}

// Publish implements hub.Broker: the event is appended to every session's stream and
// published by one script call (shared with the appends of concurrent callers: commit.go),
// so it is stored for all of its sessions or for none.
func (b *Broker) Publish(ids []string, m hub.Message, event []byte) ([]uint64, error) {
	return b.appendEvent(ids, m, event)
}

// Handover asks every instance to let relay session sid go (relay.Owners): the one holding it
// does, unless it has a socket of it open.
func (b *Broker) Handover(ctx context.Context, sid string) error {
	if err := b.cfg.Redis.Publish(ctx, b.keys.Bus(), "H\n"+sid).Err(); err != nil {
		return fmt.Errorf("broker: ask for a handover: %w", err)
	}
	return nil
}

// SendState implements hub.Broker: the frame is written (and published) by Run's writer,
// latest per session, so the caller never waits on Redis.
func (b *Broker) SendState(id string, frame []byte) { b.queue(id, op{frame: frame}) }

// Release implements hub.Broker: the session's stream, counter and state are deleted and
// every instance's hub releases it.
func (b *Broker) Release(id string) { b.queue(id, op{release: true}) }

func (b *Broker) queue(id string, o op) {
	b.outMu.Lock()
	b.out[id] = o
	b.outMu.Unlock()
	select {
	case b.outKick <- struct{}{}:
	default:
	}
}

// Sync implements hub.Broker.
func (b *Broker) Sync(h *hub.Hub, id string, then func()) {
	mu := b.lock(id)
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := b.catchUp(ctx, h, id, nil, true); err != nil {
		b.log.Warn("broker: catch up before subscribing", "err", err)
	}
	then()
}

// catchUp brings h's copy of session id up to date from Redis, then applies live (an event
// just heard, or nil); the caller holds the session's lock. With create false a session h
// does not hold is left alone.
func (b *Broker) catchUp(ctx context.Context, h *hub.Hub, id string, live *liveEvent, create bool) error {
	ep, last, held := h.Last(id)
	if !held && !create {
		return nil
	}
	if live != nil && held && live.epoch == ep {
		if live.ev.Seq <= last {
			return nil // a duplicate: already read from the stream
		}
		if live.ev.Seq == last+1 {
			h.Apply(id, ep, []hub.Sequenced{live.ev}, false)
			return nil
		}
	}
	// Read the session's epoch, state and what follows last in one round trip; all of it
	// again if the epoch turns out to have changed.
	from := last + 1
	var (
		metaEp string
		state  []byte
		evs    []hub.Sequenced
		err    error
	)
	for range 2 {
		metaEp, state, evs, err = b.read(ctx, id, from, live == nil)
		if err != nil || metaEp == ep || from == 1 {
			break
		}
		from = 1
	}
	if err != nil {
		if live != nil { // apply what we heard: the hub says what is missing
			h.Apply(id, live.epoch, []hub.Sequenced{live.ev}, false)
		}
		return err
	}
	if live != nil && (metaEp == "" || metaEp == live.epoch) {
		if len(evs) == 0 || evs[len(evs)-1].Seq < live.ev.Seq {
			evs = append(evs, live.ev)
		}
		metaEp = live.epoch
	}
	if metaEp != "" {
		h.Apply(id, metaEp, evs, create)
	}
	if state != nil {
		h.ApplyState(id, state, create)
	}
	return nil
}

// read returns session id's epoch ("" if it has none), its state frame (if withState) and the
// events from seq from on.
func (b *Broker) read(ctx context.Context, id string, from uint64, withState bool) (string, []byte, []hub.Sequenced, error) {
	var st *redis.StringCmd
	pipe := b.cfg.Redis.Pipeline()
	ep := pipe.HGet(ctx, b.keys.Meta(id), "ep")
	xr := pipe.XRange(ctx, b.keys.Log(id), strconv.FormatUint(from, 10)+"-0", "+")
	if withState {
		st = pipe.Get(ctx, b.keys.State(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, nil, fmt.Errorf("broker: read session log: %w", err)
	}
	epoch := ep.Val()
	var state []byte
	if st != nil && st.Err() == nil {
		state = []byte(st.Val())
	}
	msgs := xr.Val()
	evs := make([]hub.Sequenced, 0, len(msgs))
	for _, m := range msgs {
		ev, err := entryEvent(m)
		if err != nil {
			return "", nil, nil, err
		}
		evs = append(evs, ev)
	}
	return epoch, state, evs, nil
}

func entryEvent(m redis.XMessage) (hub.Sequenced, error) {
	seqStr, _, _ := bytes.Cut([]byte(m.ID), []byte("-"))
	seq, err := strconv.ParseUint(string(seqStr), 10, 64)
	if err != nil {
		return hub.Sequenced{}, fmt.Errorf("broker: stream entry id %q", m.ID)
	}
	typ, _ := m.Values["t"].(string)
	atStr, _ := m.Values["at"].(string)
	event, _ := m.Values["e"].(string)
	at, _ := strconv.ParseInt(atStr, 10, 64)
	return hub.Sequenced{Seq: seq, Type: typ, Time: time.Unix(0, at), Event: []byte(event)}, nil
}

func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
