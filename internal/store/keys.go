// Package store is twitchrelay's persistence, in memory for one process or in Redis for
// restarts (and, later, several instances): the relay's subscription state, the users' Twitch
// tokens and the webhook message ids already accepted. Every Redis key the service writes is
// laid out in this file. Browser sessions themselves use scs (scs/redisstore in Redis mode)
// under Keys.Sessions.
package store

import (
	"crypto/sha256"
	"encoding/hex"
)

// DefaultPrefix prefixes every key of a deployment (REDIS_KEY_PREFIX), so that deployments and
// test runs can share one Redis.
const DefaultPrefix = "twitchrelay:"

// Keys is the Redis key layout of one deployment. With the default prefix:
//
//	twitchrelay:session:<token>          scs session data (scs/redisstore), TTL = session lifetime
//	twitchrelay:token:<relay session>     the user's Twitch token (JSON), TTL = session lifetime
//	twitchrelay:relay:s:<relay session>   hash: user_id, user_login, streamer (JSON), lease (ms)
//	twitchrelay:relay:subs:<relay session> hash: subscription id → OwnedSub (JSON)
//	twitchrelay:relay:sessions            set: relay session ids with a record (pruned on List)
//	twitchrelay:dedupe:<relay session>:<message id>  "1", TTL = 2 × the webhook window
//	twitchrelay:throttle:<key>            hash: tokens, at (ms): a streamer-change bucket (key "sid:<relay session>" or "user:<twitch id>"), TTL = its window
//
// With several instances (internal/broker, internal/lock):
//
//	twitchrelay:ev:meta:<relay session>   hash: ep (the session's epoch), seq (last seq), TTL = history age
//	twitchrelay:ev:log:<relay session>    stream: one entry per event, id "<seq>-0", capped at the history size
//	twitchrelay:ev:state:<relay session>  the latest state frame, TTL = history age
//	twitchrelay:ev:msg:<message id>       the seqs an event got (appended once), TTL = 2 × the webhook window
//	twitchrelay:ev:bus                    Pub/Sub channel: events, states, releases and probes
//	twitchrelay:lock:<name>               an owner's token (SET NX PX), for exactly-one-owner work
//	twitchrelay:share:key:<hash>          the Twitch id of the shared webhook subscription of a (type, version, condition)
//	twitchrelay:share:sub:<twitch id>     hash: key (the hash), creator (session in its callback), status
//	twitchrelay:share:refs:<twitch id>    set: the relay sessions referencing it, on any instance
//
// The relay's two hashes carry the TTL of their last write (a lease plus two sweeps), so the
// state of a session whose process died expires by itself.
type Keys struct{ prefix string }

// NewKeys returns the layout under prefix; "" means DefaultPrefix.
func NewKeys(prefix string) Keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keys{prefix: prefix}
}

// Prefix is the deployment's prefix.
func (k Keys) Prefix() string { return k.prefix }

// Sessions is the prefix scs/redisstore puts before its session tokens.
func (k Keys) Sessions() string { return k.prefix + "session:" }

func (k Keys) token(sid string) string        { return k.prefix + "token:" + sid }
func (k Keys) relaySession(sid string) string { return k.prefix + "relay:s:" + sid }
func (k Keys) relaySubs(sid string) string    { return k.prefix + "relay:subs:" + sid }
func (k Keys) relayIndex() string             { return k.prefix + "relay:sessions" }
func (k Keys) dedupe(id string) string        { return k.prefix + "dedupe:" + id }
func (k Keys) throttle(key string) string     { return k.prefix + "throttle:" + key }

// Broker is the layout internal/broker uses for events shared between instances.
func (k Keys) Broker() BrokerKeys { return BrokerKeys{prefix: k.prefix + "ev:"} }

// BrokerKeys names the event log of each relay session, shared by every instance.
type BrokerKeys struct{ prefix string }

func (b BrokerKeys) Meta(sid string) string  { return b.prefix + "meta:" + sid }
func (b BrokerKeys) Log(sid string) string   { return b.prefix + "log:" + sid }
func (b BrokerKeys) State(sid string) string { return b.prefix + "state:" + sid }
func (b BrokerKeys) Msg(id string) string    { return b.prefix + "msg:" + id }
func (b BrokerKeys) Bus() string             { return b.prefix + "bus" }

// Lock is the key of the named exclusive lock (internal/lock).
func (k Keys) Lock(name string) string { return k.prefix + "lock:" + name }

// Share is the key of a shared-subscription registry entry (internal/lock's Shares): part is
// "key:<hash>", "sub:<id>" or "refs:<id>".
func (k Keys) Share(part string) string { return k.prefix + "share:" + part }

// shortID is how a relay session id appears in errors and logs: a hash prefix, never the id.
func shortID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:4])
}
