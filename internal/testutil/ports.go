package testutil

import (
	"errors"
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
// port stays free). Prefer ARQONBUS_SERVER_PORT=0 otherwise.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := PickFreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

// PickFreePort is FreePort for code that has no test to fail (the Redis
// harness, which picks a port for a server shared by a whole package). It
// draws a free loopback port below the kernel's ephemeral range,
// where neither servers started on port 0, outgoing connections nor
// Docker's random bindings land (so a stopped Redis can get its port back),
// and never hands out the same port twice in one process. It falls back to
// a kernel-chosen port.
func PickFreePort() (int, error) {
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
				return p, nil
			}
		}
	}
	for range 64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !freePorts.given[p] {
			freePorts.given[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no unused port found")
}

// freePortLowest is the bottom of freePort's range, above the usual
// registered service ports.
const freePortLowest = 10000

// freePorts remembers the ports freePort handed out.
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
