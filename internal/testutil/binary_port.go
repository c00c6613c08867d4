package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a loopback TCP port that is free now, for a test that
// must know the port before the server starts (for instance to prove the
// port stays free). Prefer ARQONBUS_SERVER_PORT=0 otherwise. The port is
// drawn below the kernel's ephemeral range, where servers started on port 0
// and outgoing connections never land, and never twice in one process.
func FreePort(t testing.TB) int {
	t.Helper()
	freePorts.mu.Lock()
	defer freePorts.mu.Unlock()
	if freePorts.given == nil {
		freePorts.given = map[int]bool{}
	}
	if lo := ephemeralLow(); lo > freePortLowest+1000 {
		for range 64 {
			p := freePortLowest + rand.IntN(lo-freePortLowest)
			if !freePorts.given[p] && portFree(p) {
				freePorts.given[p] = true
				return p
			}
		}
	}
	for range 64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !freePorts.given[p] {
			freePorts.given[p] = true
			return p
		}
	}
	t.Fatalf("free port: no unused port found")
	return 0
}

// freePortLowest is the bottom of FreePort's range, above the usual
// registered service ports.
const freePortLowest = 20000

// freePorts remembers the ports FreePort handed out.
var freePorts struct {
	mu    sync.Mutex
	given map[int]bool
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux),
// or the IANA default elsewhere.
func ephemeralLow() int {
	const ianaLow = 49152
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ianaLow
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return ianaLow
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return ianaLow
	}
	return lo
}
