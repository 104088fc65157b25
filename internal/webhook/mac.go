package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"io"
)

// The signature check of every callback, without allocating: HMAC-SHA256 (RFC 2104) computed
// on pooled SHA-256 states, the session's secret derived from saved states of the server
// secret's HMAC, and the body read into a pooled buffer. crypto/hmac builds two digests, two
// pads and a clone per call, and io.ReadAll grows a fresh buffer: 14 of the 32
// allocations of a notification's intake (BenchmarkIntake; docs/perf-profile-17.md).
const (
	scratchBody    = 4 << 10  // bytes the pooled body buffer starts with; grows with what arrives
	scratchBodyMax = 16 << 10 // a buffer grown past this is not pooled again (a rare large body)
	scratchBuf     = 2 * maxIDLen
	scratchBufMax  = 4 << 10 // the session id comes from the URL: one that grew buf past this is not pooled
	hmacBlock      = sha256.BlockSize
)

// scratch is one Verify call's working memory, lent by Verifier.scratch.
type scratch struct {
	inner, outer hash.Hash // SHA-256 states
	body         []byte
	buf          []byte // header bytes to hash, the hex signature
}

// scratch lends one of the Verifier's scratches (a sync.Pool in the Verifier, whose zero
// value is ready: a miss makes a new one).
func (v *Verifier) scratch() *scratch {
	if sc, ok := v.scratches.Get().(*scratch); ok {
		return sc
	}
	return &scratch{inner: sha256.New(), outer: sha256.New(), body: make([]byte, 0, scratchBody), buf: make([]byte, 0, scratchBuf)}
}

// release gives sc back, unless a rare large body or header grew it.
func (v *Verifier) release(sc *scratch) {
	if cap(sc.body) > scratchBodyMax || cap(sc.buf) > scratchBufMax {
		return
	}
	sc.body, sc.buf = sc.body[:0], sc.buf[:0]
	v.scratches.Put(sc)
}

// secretStates are the SHA-256 states of HMAC(ServerSecret, secretLabel + ...) after the
// inner pad and the label, and after the outer pad: Secret for a session id resumes from them.
type secretStates struct {
	key          []byte
	inner, outer []byte // MarshalBinary of the states
}

func newSecretStates(key []byte) *secretStates {
	if len(key) > hmacBlock {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	var pad [hmacBlock]byte
	inner, outer := sha256.New(), sha256.New()
	xorPad(&pad, key, 0x36)
	inner.Write(pad[:])
	io.WriteString(inner, secretLabel)
	xorPad(&pad, key, 0x5c)
	outer.Write(pad[:])
	in, _ := inner.(encoding.BinaryMarshaler).MarshalBinary() // SHA-256 states always marshal
	out, _ := outer.(encoding.BinaryMarshaler).MarshalBinary()
	return &secretStates{inner: in, outer: out}
}

func xorPad(pad *[hmacBlock]byte, key []byte, b byte) {
	for i := range pad {
		pad[i] = b
	}
	for i, k := range key {
		pad[i] ^= k
	}
}

// states returns the saved states for the current ServerSecret.
func (v *Verifier) states() *secretStates {
	st := v.secretBase.Load()
	if st == nil || !bytes.Equal(st.key, v.ServerSecret) {
		st = newSecretStates(v.ServerSecret)
		st.key = bytes.Clone(v.ServerSecret)
		v.secretBase.Store(st)
	}
	return st
}

// sessionSecret writes Secret(ServerSecret, sessionID) into dst: 64 hex characters.
func (v *Verifier) sessionSecret(sc *scratch, sessionID string, dst *[2 * sha256.Size]byte) {
	st := v.states()
	var sum [sha256.Size]byte
	_ = sc.inner.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.inner) // our own marshalled state
	sc.buf = append(sc.buf[:0], sessionID...)
	sc.inner.Write(sc.buf)
	_ = sc.outer.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.outer)
	sc.outer.Write(sc.inner.Sum(sum[:0]))
	hex.Encode(dst[:], sc.outer.Sum(sum[:0]))
}

// validSignature is eventsub.ValidSignature with the session's Secret: sig (already checked to
// be sha256=<64 lowercase hex>) is decoded and compared in constant time with
// HMAC-SHA256(secret, id + ts + body). The secret is 64 bytes, one SHA-256 block: it is its
// own HMAC key as it is, unhashed.
func (v *Verifier) validSignature(sc *scratch, sessionID, id, ts string, body []byte, sig string) bool {
	var want, sum [sha256.Size]byte
	sc.buf = append(sc.buf[:0], sig[len(signaturePfx):]...)
	if _, err := hex.Decode(want[:], sc.buf); err != nil {
		return false
	}
	var secret [2 * sha256.Size]byte
	v.sessionSecret(sc, sessionID, &secret)
	var pad [hmacBlock]byte
	xorPad(&pad, secret[:], 0x36)
	sc.inner.Reset()
	sc.inner.Write(pad[:])
	sc.buf = append(append(sc.buf[:0], id...), ts...)
	sc.inner.Write(sc.buf)
	sc.inner.Write(body)
	xorPad(&pad, secret[:], 0x5c)
	sc.outer.Reset()
	sc.outer.Write(pad[:])
	sc.outer.Write(sc.inner.Sum(sum[:0]))
	return hmac.Equal(sc.outer.Sum(sum[:0]), want[:])
}

// readBody reads the whole body into sc's buffer, at most maxBody bytes (ErrTooLarge past
// that). The buffer grows with the bytes that actually arrive, never with what Content-Length
// merely announces: a request that announces 64 KiB and sends nothing costs no more than the
// pooled buffer. The bytes are sc's: nothing may keep them after Verify returns.
func readBody(sc *scratch, r io.Reader, maxBody int64) ([]byte, error) {
	b := sc.body[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		limit := min(int64(cap(b)), maxBody+1)
		n, err := r.Read(b[len(b):limit])
		b = b[:len(b)+n]
		sc.body = b
		if int64(len(b)) > maxBody {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
