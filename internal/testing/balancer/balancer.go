// Package balancer is a small round-robin TCP balancer for tests: several instances of the
// relay behind one loopback address, as behind a load balancer in production, and a way to
// make a connection go silent (frozen) without closing it, as a broken network does.
package balancer

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

const dialTimeout = 2 * time.Second

// Balancer accepts on a loopback port and hands each connection to the next backend that
// accepts a dial. Its zero value is not usable: call New.
type Balancer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	backends []string
	next     int
	frozen   bool
	thaw     chan struct{} // closed when frozen ends
	conns    map[net.Conn]struct{}
	picked   map[string]int
	closed   bool
}

// New listens on 127.0.0.1 and balances over backends (host:port). Close stops it.
func New(backends ...string) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}, picked: map[string]int{}, thaw: make(chan struct{})}
	close(b.thaw)
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr is where clients connect (host:port).
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// SetBackends replaces the backends for new connections; open ones stay.
func (b *Balancer) SetBackends(backends ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = backends
}

// Picked is how many connections went to backend so far.
func (b *Balancer) Picked(backend string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.picked[backend]
}

// Freeze stops forwarding bytes on every connection, open and new, without closing any: the
// peers see silence. Thaw undoes it.
func (b *Balancer) Freeze() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.frozen {
		b.frozen, b.thaw = true, make(chan struct{})
	}
}

// Thaw resumes forwarding.
func (b *Balancer) Thaw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.frozen {
		b.frozen = false
		close(b.thaw)
	}
}

// DropAll closes every open connection (as a balancer restart would).
func (b *Balancer) DropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

// Close stops accepting, closes every connection and waits for its goroutines.
func (b *Balancer) Close() {
	b.mu.Lock()
	b.closed = true
	if b.frozen {
		b.frozen = false
		close(b.thaw)
	}
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.ln.Close()
	b.wg.Wait()
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(c)
		}()
	}
}

// serve dials the next backend that answers (each tried once) and pipes both ways.
func (b *Balancer) serve(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	n := len(b.backends)
	b.mu.Unlock()
	var up net.Conn
	for range n {
		b.mu.Lock()
		if len(b.backends) == 0 {
			b.mu.Unlock()
			return
		}
		addr := b.backends[b.next%len(b.backends)]
		b.next++
		b.mu.Unlock()
		d, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err == nil {
			up = d
			b.mu.Lock()
			b.picked[addr]++
			b.mu.Unlock()
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	if !b.track(c, up) {
		return
	}
	defer b.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { b.pipe(up, c); done <- struct{}{} }()
	go func() { b.pipe(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func (b *Balancer) track(cs ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	for _, c := range cs {
		b.conns[c] = struct{}{}
	}
	return true
}

func (b *Balancer) untrack(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		delete(b.conns, c)
	}
}

// pipe copies src to dst, holding each chunk while the balancer is frozen.
func (b *Balancer) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			thaw := b.thaw
			b.mu.Unlock()
			<-thaw
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return
		}
	}
}
