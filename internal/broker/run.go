package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/twitchrelay/twitchrelay/internal/hub"
)

// errSilent: the subscription delivered nothing, not even our own probe, for ProbeTimeout.
var errSilent = errors.New("broker: Pub/Sub subscription silent (probe not heard)")

// liveEvent is an event heard on the channel.
type liveEvent struct {
	epoch string
	ev    hub.Sequenced
}

// Run delivers what the channel carries to h and writes queued states and releases, until
// ctx ends. It rebuilds the subscription whenever it breaks or goes silent, and then reads
// every session h holds back from the streams. It returns nil when ctx ends.
func (b *Broker) Run(ctx context.Context, h *hub.Hub) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { b.writeLoop(ctx); return nil })
	g.Go(func() error { b.subscribeLoop(ctx, h); return nil })
	return g.Wait()
}

func (b *Broker) subscribeLoop(ctx context.Context, h *hub.Hub) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := b.consume(ctx, h)
		if ctx.Err() != nil {
			return
		}
		b.healthy.Store(false)
		b.lastErr.Store(&err)
		b.rebuilds.Add(1)
		b.log.Warn("broker: rebuilding the Pub/Sub subscription", "err", err)
		if b.cfg.OnRebuild != nil {
			b.cfg.OnRebuild(err)
		}
		if time.Since(started) > b.cfg.ProbeTimeout {
			backoff = 50 * time.Millisecond // it had worked: come back at once
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxRebuildBackoff)
	}
}

// consume runs one subscription until it fails or goes silent.
func (b *Broker) consume(ctx context.Context, h *hub.Hub) error {
	ps := b.cfg.Redis.Subscribe(ctx, b.keys.Bus())
	defer ps.Close()
	subscribed := false
	var lastProbe time.Time
	var probes uint64
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.cfg.ProbeInterval)
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed = true
				b.probeSeen.Store(now.UnixNano())
				// Whatever was published while we were not listening is in the streams.
				b.catchUpAll(ctx, h)
				b.healthy.Store(true)
				b.log.Info("broker: subscribed", "instance", b.instance)
				if b.cfg.OnSubscribed != nil {
					b.cfg.OnSubscribed()
				}
			}
		case *redis.Message:
			b.probeSeen.Store(now.UnixNano())
			b.handle(ctx, h, m.Payload)
		}
		if err != nil && !isTimeout(err) {
			return fmt.Errorf("broker: Pub/Sub: %w", err)
		}
		if !subscribed {
			if err != nil && now.Sub(lastProbe) > b.cfg.ProbeTimeout && !lastProbe.IsZero() {
				return errors.New("broker: Pub/Sub: no subscription confirmation")
			}
			if lastProbe.IsZero() {
				lastProbe = now
			}
			continue
		}
		if now.Sub(lastProbe) >= b.cfg.ProbeInterval {
			lastProbe = now
			probes++
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			perr := b.cfg.Redis.Publish(pctx, b.keys.Bus(), "P\n"+b.instance+"\n"+strconv.FormatUint(probes, 10)).Err()
			cancel()
			if perr != nil && ctx.Err() == nil {
				return fmt.Errorf("broker: probe: %w", perr)
			}
		}
		if now.Sub(time.Unix(0, b.probeSeen.Load())) > b.cfg.ProbeTimeout {
			return errSilent
		}
	}
}

// handle applies one channel message: E(vent), S(tate), R(elease), H(andover) or P(robe).
func (b *Broker) handle(ctx context.Context, h *hub.Hub, payload string) {
	kind, rest, _ := bytes.Cut([]byte(payload), []byte("\n"))
	switch string(kind) {
	case "E":
		f := bytes.SplitN(rest, []byte("\n"), 6)
		if len(f) != 6 {
			b.log.Warn("broker: malformed event message")
			return
		}
		seq, err1 := strconv.ParseUint(string(f[2]), 10, 64)
		at, err2 := strconv.ParseInt(string(f[4]), 10, 64)
		if err1 != nil || err2 != nil {
			b.log.Warn("broker: malformed event message")
			return
		}
		id := string(f[0])
		live := &liveEvent{epoch: string(f[1]), ev: hub.Sequenced{Seq: seq, Type: string(f[3]), Time: time.Unix(0, at), Event: f[5]}}
		mu := b.lock(id)
		mu.Lock()
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		if err := b.catchUp(rctx, h, id, live, false); err != nil {
			b.log.Warn("broker: fill a gap from the stream", "err", err)
		}
		cancel()
		mu.Unlock()
	case "S":
		id, frame, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return
		}
		h.ApplyState(string(id), bytes.Clone(frame), false)
	case "R":
		h.ApplyRelease(string(rest))
	case "H":
		if b.cfg.OnHandover != nil {
			b.cfg.OnHandover(string(rest))
		}
	case "P":
	}
}

// catchUpAll reads every session h holds back from the streams (after a subscription was
// (re)built: what was published meanwhile was not heard).
func (b *Broker) catchUpAll(ctx context.Context, h *hub.Hub) {
	for _, id := range h.Sessions() {
		mu := b.lock(id)
		mu.Lock()
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		err := b.catchUp(rctx, h, id, nil, false)
		cancel()
		mu.Unlock()
		if err != nil {
			b.log.Warn("broker: catch up after subscribing", "err", err)
			return // Redis is failing: the next subscription tries again
		}
	}
}

// writeLoop writes queued states and releases, latest per session; a failed write stays
// queued (unless replaced) and is retried.
func (b *Broker) writeLoop(ctx context.Context) {
	retry := time.NewTimer(writeRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.outKick:
		case <-retry.C:
		}
		retry.Reset(writeRetry)
		b.outMu.Lock()
		batch := b.out
		b.out = map[string]op{}
		b.outMu.Unlock()
		for id, o := range batch {
			if err := b.write(ctx, id, o); err != nil {
				if ctx.Err() != nil {
					return
				}
				b.log.Warn("broker: write state", "err", err)
				b.outMu.Lock()
				if _, newer := b.out[id]; !newer {
					b.out[id] = o
				}
				b.outMu.Unlock()
			}
		}
	}
}

func (b *Broker) write(ctx context.Context, id string, o op) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := b.cfg.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if o.release {
			p.Del(ctx, b.keys.Meta(id), b.keys.Log(id), b.keys.State(id))
			p.Publish(ctx, b.keys.Bus(), "R\n"+id)
			return nil
		}
		if len(o.frame) == 0 {
			p.Del(ctx, b.keys.State(id))
		} else {
			p.Set(ctx, b.keys.State(id), o.frame, b.cfg.HistoryAge)
		}
		p.Publish(ctx, b.keys.Bus(), "S\n"+id+"\n"+string(o.frame))
		return nil
	})
	return err
}
