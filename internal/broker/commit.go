package broker

// Group commit: concurrent Publish calls (one per webhook callback) are appended to Redis in
// one script call per batch instead of one each. While a batch is in flight, new appends
// queue; when it returns, the first queued caller takes the queue as the next batch. Nothing
// waits for a batch to fill: a lone append goes at once, as before, and under load the
// batches grow by themselves to what arrived during one round trip (at most maxBatch events
// or maxBatchBytes of event bytes); store.Batcher is the queue.
//
// One script call runs the same steps per event as a single append did (message id check,
// per-session counter, XADD, PUBLISH, message id remembered), in the order of the queue,
// atomically with respect to every other Redis client. Its reply carries each event's
// numbers; an error (Redis unreachable, timeout, a script error) is every caller's in the
// batch, so each callback answers 503 and Twitch retries. A batch whose reply was lost after
// Redis ran it is then stored already, and the retry gets the numbers the first run gave
// (the message id is remembered), as with a single append.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/store"
)

// Limits of one batch: Redis runs a script alone, so its length is bounded.
const (
	maxBatch      = 64        // events per script call
	maxBatchBytes = 256 << 10 // event bytes per script call
)

// appendReq is one Publish waiting for its batch.
type appendReq struct {
	ids   []string
	m     hub.Message
	event []byte
	seqs  []uint64
	err   error
}

// newCommitter returns the group commit of b's appends.
func (b *Broker) newCommitter() *store.Batcher[*appendReq] {
	return &store.Batcher[*appendReq]{
		Commit: b.commitBatch, Max: maxBatch, MaxWeight: maxBatchBytes,
		Weight: func(r *appendReq) int { return len(r.event) },
	}
}

// appendEvent stores one event for each session of ids through the group commit and returns
// its numbers.
func (b *Broker) appendEvent(ids []string, m hub.Message, event []byte) ([]uint64, error) {
	r := &appendReq{ids: ids, m: m, event: event}
	b.commit.Do(r)
	return r.seqs, r.err
}

// batchScript appends a batch of events, each to each of its sessions' streams, numbered by
// the session's counter, and publishes each; an event whose message id was seen before gets
// the numbers it got then. KEYS: bus, then per event: msg, then meta and log of each of its
// sessions. ARGV: maxlen, ttl ms, msg ttl ms, then per event: has-msg, session count, epoch
// candidate, type, time ns, event, the session ids. Reply: per event its numbers, "1,2".
var batchScript = redis.NewScript(`
local maxlen, ttl, msgttl = ARGV[1], ARGV[2], ARGV[3]
local k, a = 2, 4
local res = {}
while a <= #ARGV do
  local has, n, cand, typ, at, ev = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local msg = KEYS[k]
  local prev = false
  if has == '1' then prev = redis.call('GET', msg) end
  if prev then
    res[#res + 1] = prev
  else
    local out = {}
    for i = 1, n do
      local meta, log = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
      if redis.call('HSETNX', meta, 'ep', cand) == 1 then redis.call('DEL', log) end
      local ep = redis.call('HGET', meta, 'ep')
      local seq = redis.call('HINCRBY', meta, 'seq', 1)
      redis.call('XADD', log, 'MAXLEN', '~', maxlen, seq .. '-0', 't', typ, 'at', at, 'e', ev)
      redis.call('PEXPIRE', meta, ttl)
      redis.call('PEXPIRE', log, ttl)
      redis.call('PUBLISH', KEYS[1], table.concat({'E', ARGV[a + 5 + i], ep, seq, typ, at, ev}, '\n'))
      out[i] = seq
    end
    local s = table.concat(out, ',')
    if has == '1' then redis.call('SET', msg, s, 'PX', msgttl) end
    res[#res + 1] = s
  end
  k = k + 1 + 2 * n
  a = a + 6 + n
end
return res
`)

// commitBatch runs batchScript for batch and sets each request's seqs or err.
func (b *Broker) commitBatch(batch []*appendReq) {
	keys := []string{b.keys.Bus()}
	args := []any{b.cfg.HistorySize, b.cfg.HistoryAge.Milliseconds(), max(b.cfg.MessageTTL, time.Second).Milliseconds()}
	for _, r := range batch {
		at := r.m.Time
		if at.IsZero() {
			at = time.Now()
		}
		msgKey, hasMsg := b.keys.Msg("-"), "0"
		if r.m.ID != "" {
			msgKey, hasMsg = b.keys.Msg(r.m.ID), "1"
		}
		keys = append(keys, msgKey)
		args = append(args, hasMsg, len(r.ids), newEpoch(), r.m.Type, at.UnixNano(), r.event)
		for _, id := range r.ids {
			keys = append(keys, b.keys.Meta(id), b.keys.Log(id))
			args = append(args, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	res, err := batchScript.Run(ctx, b.cfg.Redis, keys, args...).StringSlice()
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("%d replies for %d events", len(res), len(batch))
	}
	if err != nil {
		b.log.Error("broker: append events", "events", len(batch), "err", err)
		for _, r := range batch {
			r.err = fmt.Errorf("broker: append event: %w", err)
		}
		return
	}
	for i, r := range batch {
		r.seqs, r.err = parseSeqs(res[i], len(r.ids))
	}
}

// parseSeqs reads "1,2,3", one number per session.
func parseSeqs(s string, n int) ([]uint64, error) {
	seqs := make([]uint64, 0, n)
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("broker: append event: bad seq %q", f)
		}
		seqs = append(seqs, v)
	}
	// A message id the script remembers returns the numbers of its first append. When Twitch
	// retries it after the receivers changed (a session joined or left the shared
	// subscription meanwhile) their count differs from n; the event is stored already, so
	// this is not an error (a 503 here would be answered to every retry until Twitch revoked).
	return seqs, nil
}
