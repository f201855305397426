package testsupport

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// FreezableProxy forwards TCP connections to a target until Freeze; from
// then on it holds every byte in either direction, connections open, as a
// network partition or a paused database server does, until Thaw. Tests use
// it to make PostgreSQL stop answering without refusing anything.
type FreezableProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

// NewFreezableProxy listens on a free loopback port and forwards to target
// (host:port). It is closed when the test ends.
func NewFreezableProxy(t testing.TB, target string) *FreezableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &FreezableProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *FreezableProxy) Addr() string { return p.ln.Addr().String() }

// Freeze stops forwarding.
func (p *FreezableProxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Thaw forwards again, the bytes held meanwhile first.
func (p *FreezableProxy) Thaw() {
	p.mu.Lock()
	p.frozen = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *FreezableProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.frozen = false
	conns := p.conns
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *FreezableProxy) accept() {
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
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, waiting while the proxy is frozen before each
// write.
func (p *FreezableProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen && !p.closed {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// PostgresDSNBehindProxy is PostgresDSN reached through a FreezableProxy:
// the test's fresh database, and the proxy that can make it stop answering.
func PostgresDSNBehindProxy(t testing.TB) (string, *FreezableProxy) {
	t.Helper()
	u, err := url.Parse(PostgresDSN(t))
	if err != nil {
		t.Fatalf("PostgresDSNBehindProxy: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := NewFreezableProxy(t, target)
	u.Host = p.Addr()
	return u.String(), p
}
