//go:build e2e

package e2e

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// backlogPad is the size of one backlog frame's padding, bytes.
const backlogPad = 32 << 10

// backlogFrames returns how many backlogPad frames make a backlog larger
// than the kernel can hold for one connection: the server's send buffer
// grows up to net.ipv4.tcp_wmem's maximum, the consumer's receive buffer
// starts at tcp_rmem's default and only grows while the consumer reads.
// Twice that, and at least 8 MiB, so part of the backlog is still queued in
// the server when the signal arrives.
func backlogFrames(t *testing.T) int {
	t.Helper()
	kernel := sysctlField(t, "/proc/sys/net/ipv4/tcp_wmem", 2, 4<<20) +
		sysctlField(t, "/proc/sys/net/ipv4/tcp_rmem", 1, 128<<10)
	return max(8<<20, 2*kernel) / backlogPad
}

// sysctlField reads field i of a whitespace-separated sysctl file, or def
// where there is none (not Linux).
func sysctlField(t *testing.T, path string, i, def int) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	f := strings.Fields(string(b))
	if i >= len(f) {
		return def
	}
	n, err := strconv.Atoi(f[i])
	if err != nil {
		return def
	}
	return n
}

// backlogEnv lets one consumer fall far behind without being cut off as a
// slow consumer or rate limited, plus extra.
func backlogEnv(extra ...string) []string {
	return devEnv(append([]string{
		"ARQONBUS_SEND_QUEUE_BYTES=268435456",
		"ARQONBUS_RATE_LIMIT_PER_SECOND=0",
	}, extra...)...)
}

// publishBacklog publishes n frames of backlogPad bytes into
// science:explore, each acknowledged as delivered to exactly one client.
func publishBacklog(t *testing.T, pub *client.Client, n int) {
	t.Helper()
	pad := strings.Repeat("x", backlogPad)
	for i := range n {
		ack := testutil.Publish(t, pub, "science", "explore", map[string]any{"n": i, "pad": pad})
		require.Equal(t, 1, ack.Delivered, "frame %d", i)
	}
}

func TestSIGTERMFlushesQueuedFramesThenClosesWith1001AndExitsZero(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, backlogEnv("ARQONBUS_WRITE_TIMEOUT=60s"))
	slow := dialRaw(t, p.URL, 0)
	slow.join(t, "science", "explore")
	pub := dial(t, p.URL)
	frames := backlogFrames(t)
	publishBacklog(t, pub, frames)

	p.Signal(t, syscall.SIGTERM)
	p.WaitStderr(t, "draining", 10*time.Second)
	testutil.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}, 5*time.Second, "the listener to stop accepting while draining")

	for i := range frames {
		env := slow.read(t, 10*time.Second)
		n := testutil.Payload(t, env)["n"]
		require.EqualValues(t, i, n, "frames arrive complete and in order")
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := slow.ReadMessage()
	var ce *websocket.CloseError
	require.True(t, errors.As(err, &ce), "after the backlog comes a close frame, got %v", err)
	assert.Equal(t, websocket.CloseGoingAway, ce.Code)

	assert.Equal(t, websocket.CloseGoingAway, testutil.ExpectClose(t, pub, 10*time.Second),
		"an idle client is closed with 1001 too")
	assert.Equal(t, 0, p.Wait(t, 30*time.Second), "exit status after a completed drain")
}

func TestASecondSignalDuringASlowDrainExitsAtOnceWithStatus1(t *testing.T) {
	t.Parallel()
	for _, second := range []string{"SIGTERM", "SIGINT"} {
		t.Run("SIGTERM then "+second, func(t *testing.T) {
			t.Parallel()
			// The drain may take minutes: the consumer never reads, so the
			// server's write stays blocked until WRITE_TIMEOUT.
			p := testutil.RunBinary(t, backlogEnv("ARQONBUS_WRITE_TIMEOUT=5m", "ARQONBUS_SHUTDOWN_TIMEOUT=5m"))
			// A tiny receive buffer: the consumer never reads.
			slow := dialRaw(t, p.URL, 4096)
			slow.join(t, "science", "explore")
			publishBacklog(t, dial(t, p.URL), backlogFrames(t))

			p.Signal(t, syscall.SIGTERM)
			p.WaitStderr(t, "draining", 10*time.Second)
			select {
			case <-p.Exited():
				t.Fatalf("the drain ended by itself; the second signal cannot be tested")
			default:
			}
			began := time.Now()
			p.Signal(t, signals[second])
			assert.Equal(t, 1, p.Wait(t, 10*time.Second), "exit status after a second signal")
			assert.Less(t, time.Since(began), 5*time.Second, "the second signal exits at once")
			assert.Contains(t, p.Stderr(), "second signal")
		})
	}
}

func TestStopWithNoClientsExitsZero(t *testing.T) {
	t.Parallel()
	for name, sig := range signals {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := testutil.RunBinary(t, devEnv())
			c := dial(t, p.URL) // proves the server serves before the signal
			testutil.Command(t, c, "ping", nil)
			require.NoError(t, c.Close())
			p.Signal(t, sig)
			assert.Equal(t, 0, p.Wait(t, 30*time.Second))
			assert.Contains(t, p.Stderr(), "stopped")
		})
	}
}

func TestSIGTERMRightAfterTheListeningLineStillExitsZero(t *testing.T) {
	t.Parallel()
	// A supervisor may stop the server as soon as it reports that it
	// listens; the signal must already be handled then, not kill the
	// process with the default action. One run can miss a window that is
	// open, so a few run back to back.
	for i := range 10 {
		p := testutil.RunBinary(t, devEnv())
		p.Signal(t, syscall.SIGTERM)
		if code := p.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("run %d: exit status %d after SIGTERM, want 0 (-1: killed by the signal)", i+1, code)
		}
	}
}
