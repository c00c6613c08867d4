package redistest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// StallProxy forwards TCP to a Redis server and holds back the commands
// that contain every one of a set of markers (say "XREVRANGE" and a
// tenant's key) until Release: a Redis that is slow for one kind of call
// only, as it is while it serialises a huge reply. go-redis sends each
// command on a connection of its own, so a held command stalls no other.
type StallProxy struct {
	ln      net.Listener
	target  string
	markers [][]byte

	mu      sync.Mutex
	gate    chan struct{} // closed: forward at once
	conns   map[net.Conn]struct{}
	stalled chan struct{} // receives one value per command held
}

// NewStallProxy listens on 127.0.0.1 and forwards to target (host:port);
// commands with all of markers wait once Stall is called. t.Cleanup closes
// it.
func NewStallProxy(t testing.TB, target string, markers ...string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stall proxy: %v", err)
	}
	p := &StallProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}),
		gate: make(chan struct{}), stalled: make(chan struct{}, 1024)}
	close(p.gate)
	for _, m := range markers {
		p.markers = append(p.markers, []byte(m))
	}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is a redis:// URL of the proxy.
func (p *StallProxy) URL() string { return "redis://" + p.ln.Addr().String() }

// Stall makes matching commands wait from now on until Release.
func (p *StallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

// Release lets every held command through and stops holding new ones.
func (p *StallProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Stalled receives a value each time a command is held.
func (p *StallProxy) Stalled() <-chan struct{} { return p.stalled }

func (p *StallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		go p.forward(c, up)
	}
}

// forward copies client to server, holding matching writes at the gate.
func (p *StallProxy) forward(c, up net.Conn) {
	defer up.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if p.matches(buf[:n]) {
				p.mu.Lock()
				gate := p.gate
				p.mu.Unlock()
				select {
				case <-gate:
				default:
					p.stalled <- struct{}{}
					<-gate
				}
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *StallProxy) matches(b []byte) bool {
	for _, m := range p.markers {
		if !bytes.Contains(bytes.ToLower(b), bytes.ToLower(m)) {
			return false
		}
	}
	return len(p.markers) > 0
}

func (p *StallProxy) close() {
	p.Release()
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}
