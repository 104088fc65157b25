package web

import (
	"net/netip"
	"sync"
	"time"
)

// Limits bound what a stranger can make the server spend (docs/SECURITY.md, "Bounds under
// abuse"). CallbackReads and the socket caps are configuration (internal/config has their
// defaults) and must be positive; zero HelloTimeout and TokenIdle take wsHelloTimeout and
// the session manager's IdleTimeout.
type Limits struct {
	CallbackReads     int           // callback bodies read at once; more are answered 503 unread
	SocketsPerSession int           // open sockets of one relay session (its tabs)
	SocketsPerIP      int           // open sockets from one client address (trusted-proxy aware)
	HelloTimeout      time.Duration // the wait for stream_connected (tests shorten it)
	TokenIdle         time.Duration // a cached token source without request or socket this long is dropped
}

// socketRegistry counts the open sockets by relay session and by client address, and tells a
// session's sockets when the session's streamer changed under them.
type socketRegistry struct {
	mu    sync.Mutex
	bySID map[string]map[*socketEntry]struct{}
	byIP  map[netip.Addr]int
}

// socketEntry is one open socket: the streamer it shows, and changed, closed when the session
// now shows another one.
type socketEntry struct {
	sid, streamerID string
	ip              netip.Addr
	changed         chan struct{}
	wake            func() // called when changed closes; guarded by the registry's mu
}

// limitReason says which cap refused a socket.
type limitReason string

const (
	limitNone    limitReason = ""
	limitSession limitReason = "session"
	limitIP      limitReason = "ip"
)

// open registers a socket unless its session or its address is at its cap.
func (r *socketRegistry) open(lim Limits, sid, streamerID string, ip netip.Addr) (*socketEntry, limitReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySID == nil {
		r.bySID, r.byIP = map[string]map[*socketEntry]struct{}{}, map[netip.Addr]int{}
	}
	switch {
	case len(r.bySID[sid]) >= lim.SocketsPerSession:
		return nil, limitSession
	case r.byIP[ip] >= lim.SocketsPerIP:
		return nil, limitIP
	}
	e := &socketEntry{sid: sid, streamerID: streamerID, ip: ip, changed: make(chan struct{})}
	if r.bySID[sid] == nil {
		r.bySID[sid] = map[*socketEntry]struct{}{}
	}
	r.bySID[sid][e] = struct{}{}
	r.byIP[ip]++
	return e, limitNone
}

// close unregisters a socket.
func (r *socketRegistry) close(e *socketEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.bySID[e.sid], e)
	if len(r.bySID[e.sid]) == 0 {
		delete(r.bySID, e.sid)
	}
	if r.byIP[e.ip]--; r.byIP[e.ip] <= 0 {
		delete(r.byIP, e.ip)
	}
}

// streamerChanged tells every socket of sid that shows another streamer than streamerID.
func (r *socketRegistry) streamerChanged(sid, streamerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for e := range r.bySID[sid] {
		if e.streamerID != streamerID {
			select {
			case <-e.changed:
			default:
				close(e.changed)
				if e.wake != nil {
					e.wake()
				}
			}
		}
	}
}

// onChange has wake called when e's streamer changes (after changed is closed).
func (r *socketRegistry) onChange(e *socketEntry, wake func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.wake = wake
}

// has reports whether sid has an open socket.
func (r *socketRegistry) has(sid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bySID[sid]) > 0
}
