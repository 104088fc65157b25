package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRelay keeps relay Records in Redis, shared by every instance: per session the two
// hashes and the index set of keys.go. Calls are pipelined: one round trip each.
type RedisRelay struct {
	c    redis.UniversalClient
	keys Keys
}

// NewRedisRelay returns a RedisRelay with the key layout k.
func NewRedisRelay(c redis.UniversalClient, k Keys) *RedisRelay {
	return &RedisRelay{c: c, keys: k}
}

func (s *RedisRelay) sessKey(id string) string { return s.keys.relaySession(id) }
func (s *RedisRelay) subsKey(id string) string { return s.keys.relaySubs(id) }
func (s *RedisRelay) indexKey() string         { return s.keys.relayIndex() }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: redis relay %s: %w", op, err)
}

// Load implements the relay's Store.
func (s *RedisRelay) Load(ctx context.Context, id string) (Record, bool, error) {
	var sess, subs *redis.MapStringStringCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		sess = p.HGetAll(ctx, s.sessKey(id))
		subs = p.HGetAll(ctx, s.subsKey(id))
		return nil
	})
	if err != nil {
		return Record{}, false, wrap("load", err)
	}
	return decodeRecord(id, sess.Val(), subs.Val())
}

func decodeRecord(id string, sess, subs map[string]string) (Record, bool, error) {
	if sess["user_id"] == "" {
		return Record{}, false, nil
	}
	rec := Record{SessionID: id, UserID: sess["user_id"], UserLogin: sess["user_login"], Subs: map[string]OwnedSub{}}
	if err := json.Unmarshal([]byte(sess["streamer"]), &rec.Streamer); err != nil {
		return Record{}, false, fmt.Errorf("store: redis relay record %s: streamer: %w", shortID(id), err)
	}
	if ms, _ := strconv.ParseInt(sess["lease"], 10, 64); ms > 0 {
		rec.LeaseUntil = time.UnixMilli(ms)
	}
	if ns, _ := strconv.ParseInt(sess["follows_seen"], 10, 64); ns > 0 {
		rec.FollowsSeen = time.Unix(0, ns)
	}
	for subID, raw := range subs {
		var o OwnedSub
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return Record{}, false, fmt.Errorf("store: redis relay record %s: subscription: %w", shortID(id), err)
		}
		o.ID = subID
		rec.Subs[subID] = o
	}
	return rec, true, nil
}

func leaseField(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// followsField is FollowsSeen in unix nanoseconds (followed_at has sub-millisecond digits).
func followsField(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Save implements the relay's Store.
func (s *RedisRelay) Save(ctx context.Context, rec Record, ttl time.Duration) error {
	streamer, err := json.Marshal(rec.Streamer)
	if err != nil {
		return wrap("save", err)
	}
	sk, bk := s.sessKey(rec.SessionID), s.subsKey(rec.SessionID)
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, sk, bk)
		p.HSet(ctx, sk, "user_id", rec.UserID, "user_login", rec.UserLogin, "streamer", streamer, "lease", leaseField(rec.LeaseUntil),
			"follows_seen", followsField(rec.FollowsSeen))
		p.PExpire(ctx, sk, ttl)
		if len(rec.Subs) > 0 {
			vals := make([]any, 0, 2*len(rec.Subs))
			for id, o := range rec.Subs {
				o.ID = id
				b, _ := json.Marshal(o)
				vals = append(vals, id, b)
			}
			p.HSet(ctx, bk, vals...)
			p.PExpire(ctx, bk, ttl)
		}
		p.SAdd(ctx, s.indexKey(), rec.SessionID)
		return nil
	})
	return wrap("save", err)
}

// SaveSub implements the relay's Store.
func (s *RedisRelay) SaveSub(ctx context.Context, id string, o OwnedSub, ttl time.Duration) error {
	b, err := json.Marshal(o)
	if err != nil {
		return wrap("save subscription", err)
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.subsKey(id), o.ID, b)
		p.PExpire(ctx, s.subsKey(id), ttl)
		p.PExpire(ctx, s.sessKey(id), ttl)
		return nil
	})
	return wrap("save subscription", err)
}

// DeleteSub implements the relay's Store.
func (s *RedisRelay) DeleteSub(ctx context.Context, id, subID string) error {
	return wrap("delete subscription", s.c.HDel(ctx, s.subsKey(id), subID).Err())
}

// touchScript sets the lease of a session that still exists and renews both keys' TTL.
var touchScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lease', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)

// Touch implements the relay's Store, in one pipeline.
func (s *RedisRelay) Touch(ctx context.Context, leases map[string]time.Time, ttl time.Duration) error {
	if len(leases) == 0 {
		return nil
	}
	if err := touchScript.Load(ctx, s.c).Err(); err != nil {
		return wrap("touch", err)
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id, until := range leases {
			touchScript.EvalSha(ctx, p, []string{s.sessKey(id), s.subsKey(id)}, leaseField(until), ttl.Milliseconds())
		}
		return nil
	})
	return wrap("touch", err)
}

// followsScript sets follows_seen of a session that still exists (a record that expired or
// was deleted is not brought back as a fragment).
var followsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'follows_seen', ARGV[1])
return 1`)

// SaveFollowsSeen implements the relay's Store.
func (s *RedisRelay) SaveFollowsSeen(ctx context.Context, id string, seen time.Time) error {
	return wrap("save follows seen", followsScript.Run(ctx, s.c, []string{s.sessKey(id)}, followsField(seen)).Err())
}

// Delete implements the relay's Store.
func (s *RedisRelay) Delete(ctx context.Context, id string) error {
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.sessKey(id), s.subsKey(id))
		p.SRem(ctx, s.indexKey(), id)
		return nil
	})
	return wrap("delete", err)
}

// List implements the relay's Store: the index, then every record in one pipeline. Index entries whose
// record expired are removed.
func (s *RedisRelay) List(ctx context.Context) ([]Record, error) {
	ids, err := s.c.SMembers(ctx, s.indexKey()).Result()
	if err != nil {
		return nil, wrap("list", err)
	}
	type pair struct{ sess, subs *redis.MapStringStringCmd }
	cmds := make([]pair, len(ids))
	if len(ids) > 0 {
		_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = pair{p.HGetAll(ctx, s.sessKey(id)), p.HGetAll(ctx, s.subsKey(id))}
			}
			return nil
		})
		if err != nil {
			return nil, wrap("list", err)
		}
	}
	var out []Record
	var gone []any
	for i, id := range ids {
		rec, ok, err := decodeRecord(id, cmds[i].sess.Val(), cmds[i].subs.Val())
		if err != nil {
			return nil, err
		}
		if !ok {
			gone = append(gone, id)
			continue
		}
		out = append(out, rec)
	}
	if len(gone) > 0 {
		_ = s.c.SRem(ctx, s.indexKey(), gone...).Err() // best effort: the next List prunes again
	}
	return out, nil
}
