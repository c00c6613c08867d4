package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// redisLowestPort is the bottom of the range freeRedisPort draws from: above the usual
// registered service ports.
const redisLowestPort = 10000

// freeRedisPort returns a loopback TCP port that is free now, for a server that must keep
// its address across restarts. It draws below the kernel's ephemeral range, so
// neither outgoing connections nor Docker's random bindings take the port while
// the server is stopped; it falls back to a kernel-chosen port.
func freeRedisPort() (int, error) {
	lo := redisEphemeralLow()
	for range 64 {
		if lo <= redisLowestPort+1000 {
			break
		}
		p := redisLowestPort + rand.IntN(lo-redisLowestPort)
		if redisPortFree(p) {
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func redisPortFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// redisEphemeralLow is the first port of the kernel's ephemeral range (Linux), or the
// IANA default elsewhere.
func redisEphemeralLow() int {
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
