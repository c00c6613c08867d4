package adversarial

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// WebSocket opcodes and bits (RFC 6455 §5.2) for the hand-made client.
const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
	finBit         = 0x80
	maskBit        = 0x80
)

// rawWS is a WebSocket client written by hand on a bare TCP socket, so a test
// can send what no library would: fragments of any size, lying length
// headers, reserved bits, unmasked frames.
type rawWS struct {
	nc net.Conn
	br *bufio.Reader
}

// dialTCP opens a plain TCP connection to the server and closes it when the
// test ends.
func dialTCP(t *testing.T, s *testutil.Server) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), testutil.Timeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// upgradeRequest is a minimal, valid WebSocket upgrade for s.
func upgradeRequest(s *testutil.Server) string {
	return "GET /ws HTTP/1.1\r\n" +
		"Host: " + s.Addr() + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
}

// dialRaw upgrades a bare TCP connection and reads the welcome frame.
func dialRaw(t *testing.T, s *testutil.Server) *rawWS {
	t.Helper()
	return upgradeRaw(t, s, dialTCP(t, s))
}

func upgradeRaw(t *testing.T, s *testutil.Server, nc net.Conn) *rawWS {
	t.Helper()
	require.NoError(t, nc.SetDeadline(time.Now().Add(testutil.Timeout)))
	_, err := io.WriteString(nc, upgradeRequest(s))
	require.NoError(t, err)
	r := &rawWS{nc: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(r.br, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.NoError(t, nc.SetDeadline(time.Time{}))
	op, payload, err := r.readMessage(testutil.Timeout)
	require.NoError(t, err)
	require.Equal(t, byte(opText), op)
	require.Contains(t, string(payload), `"welcome"`)
	return r
}

// mask is the client's masking key; any value is valid (RFC 6455 §5.3).
var mask = [4]byte{0x12, 0x34, 0x56, 0x78}

// frame encodes one client frame: masked unless unmasked is set, with first
// carrying FIN, RSV and the opcode.
func frame(first byte, payload []byte, unmasked bool) []byte {
	b := []byte{first}
	mb := byte(maskBit)
	if unmasked {
		mb = 0
	}
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, mb|byte(n))
	case n <= 0xFFFF:
		b = append(b, mb|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mb|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if unmasked {
		return append(b, payload...)
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// write sends one masked frame.
func (r *rawWS) write(fin bool, op byte, payload []byte) error {
	first := op
	if fin {
		first |= finBit
	}
	return r.writeBytes(frame(first, payload, false))
}

func (r *rawWS) writeBytes(b []byte) error {
	if err := r.nc.SetWriteDeadline(time.Now().Add(testutil.Timeout)); err != nil {
		return err
	}
	_, err := r.nc.Write(b)
	return err
}

// writeHeader sends only a frame header declaring length bytes, with a zero
// masking key so the payload can then be streamed unmodified.
func (r *rawWS) writeHeader(fin bool, op byte, length uint64) error {
	first := op
	if fin {
		first |= finBit
	}
	b := []byte{first, maskBit | 127}
	b = binary.BigEndian.AppendUint64(b, length)
	return r.writeBytes(append(b, 0, 0, 0, 0))
}

// readFrame reads one server frame (servers never mask).
func (r *rawWS) readFrame(timeout time.Duration) (op byte, payload []byte, err error) {
	if err := r.nc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, nil, err
	}
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if h[1]&maskBit != 0 {
		return 0, nil, errors.New("server frame is masked")
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.br, payload)
	return op, payload, err
}

// closeFrameError is a close frame received where a message was expected.
type closeFrameError struct{ code int }

func (e *closeFrameError) Error() string { return fmt.Sprintf("close frame %d", e.code) }

// readMessage returns the next data frame, skipping pings and pongs; a close
// frame becomes a *closeFrameError.
func (r *rawWS) readMessage(timeout time.Duration) (byte, []byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		op, payload, err := r.readFrame(time.Until(deadline))
		if err != nil {
			return 0, nil, err
		}
		switch op {
		case opPing, opPong:
			continue
		case opClose:
			code := 1005
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			return op, payload, &closeFrameError{code: code}
		}
		return op, payload, nil
	}
}

// awaitEnd reads until the connection ends and returns the close code the
// server sent, or 0 when the socket ended without a close frame. It fails
// the test if the connection is still open after timeout.
func (r *rawWS) awaitEnd(t *testing.T, timeout time.Duration) int {
	t.Helper()
	code, ended := r.endCode(timeout)
	if !ended {
		t.Fatalf("connection still open after %s", timeout)
	}
	return code
}

// endCode is awaitEnd for any goroutine: ended is false on timeout.
func (r *rawWS) endCode(timeout time.Duration) (code int, ended bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, _, err := r.readMessage(time.Until(deadline))
		var ce *closeFrameError
		switch {
		case errors.As(err, &ce):
			return ce.code, true
		case err == nil:
			continue
		case isTimeout(err):
			return 0, false
		default:
			return 0, true // EOF or reset: ended without a close frame
		}
	}
	return 0, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
