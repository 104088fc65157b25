package browsertest

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// cutProxy is the network between the browser and the relay: a TCP forwarder that stands
// where a reverse proxy would (PUBLIC_URL is its address), and that can cut the stream
// page's WebSocket the way a dropped Wi-Fi or a closed laptop lid does. Cut resets every
// /ws connection (RST, no close frame: the page sees code 1006, the relay a read error)
// and refuses new ones until Restore. Pages and Twitch's callbacks pass untouched, so the
// relay keeps receiving events while the browser is away.
type cutProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool
	sockets map[net.Conn]net.Conn // browser side → relay side of open /ws connections
	conns   map[net.Conn]bool     // every connection, closed at cleanup
	refused int                   // /ws handshakes reset while down
}

// startBehindProxy runs the relay with the simulator, reachable only through a cutProxy.
func startBehindProxy(t *testing.T, websocket bool) (*apptest.Harness, *cutProxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "proxy listen")
	public := "http://" + ln.Addr().String()
	h := apptest.Start(t, apptest.Options{Env: map[string]string{"PUBLIC_URL": public}, WebSocket: websocket})
	h.URL = public
	h.Sim.SetRedirectURIs(public + "/auth")
	p := &cutProxy{ln: ln, target: h.Addr, sockets: map[net.Conn]net.Conn{}, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(p.close)
	return h, p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) handle(c net.Conn) {
	br := bufio.NewReader(c)
	first, err := br.Peek(8)
	if err != nil {
		c.Close()
		return
	}
	isWS := string(first[:7]) == "GET /ws" && (first[7] == ' ' || first[7] == '?')
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if isWS && p.down {
		p.refused++
		p.mu.Unlock()
		reset(c)
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	if isWS {
		p.sockets[c] = up
	}
	p.mu.Unlock()
	go func() {
		io.Copy(up, br)
		up.Close()
	}()
	io.Copy(c, up)
	c.Close()
	p.mu.Lock()
	delete(p.sockets, c)
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Cut drops the open stream sockets and refuses new ones; it returns how many it dropped.
func (p *cutProxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	n := len(p.sockets)
	for c, up := range p.sockets {
		reset(c)
		reset(up)
		delete(p.sockets, c)
	}
	return n
}

// Restore lets stream sockets through again; it returns how many handshakes it refused.
func (p *cutProxy) Restore() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	return p.refused
}

// Refused is how many stream handshakes were reset while the network was down.
func (p *cutProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// OpenSockets is the number of stream sockets through the proxy.
func (p *cutProxy) OpenSockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sockets)
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// reset closes a TCP connection with RST instead of FIN, as a broken network would end it.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
