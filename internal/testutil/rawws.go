package testutil

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
)

// WebSocket opcodes and header bits (RFC 6455 §5.2) for RawWS.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
	FinBit         = 0x80
	MaskBit        = 0x80
)

// RawWS is a WebSocket client written by hand on a bare TCP socket, so a
// test can send what no library would: fragments of any size, lying length
// headers, reserved bits, unmasked frames, floods of control frames.
type RawWS struct {
	// Conn is the socket, for tests that cut it or set options.
	Conn net.Conn
	br   *bufio.Reader
}

// DialTCP opens a plain TCP connection to s and closes it when the test ends.
func DialTCP(t testing.TB, s *Server) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// UpgradeRequest is a minimal, valid WebSocket upgrade request for s.
func UpgradeRequest(s *Server) string {
	return "GET /ws HTTP/1.1\r\n" +
		"Host: " + s.Addr() + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
}

// DialRawWS upgrades a new TCP connection to s and reads the welcome frame.
func DialRawWS(t testing.TB, s *Server) *RawWS {
	t.Helper()
	return UpgradeRawWS(t, s, DialTCP(t, s))
}

// UpgradeRawWS upgrades nc and reads the welcome frame.
func UpgradeRawWS(t testing.TB, s *Server, nc net.Conn) *RawWS {
	t.Helper()
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("raw upgrade: %s: %v", what, err)
		}
	}
	fail("deadline", nc.SetDeadline(time.Now().Add(Timeout)))
	_, err := io.WriteString(nc, UpgradeRequest(s))
	fail("write request", err)
	r := &RawWS{Conn: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(r.br, nil)
	fail("read response", err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw upgrade: HTTP %d, want 101", resp.StatusCode)
	}
	fail("clear deadline", nc.SetDeadline(time.Time{}))
	op, payload, err := r.ReadMessage(Timeout)
	fail("read welcome", err)
	if op != OpText || !containsWelcome(payload) {
		t.Fatalf("raw upgrade: first frame is not the welcome: op %d %q", op, payload)
	}
	return r
}

func containsWelcome(p []byte) bool {
	const w = `"welcome"`
	for i := 0; i+len(w) <= len(p); i++ {
		if string(p[i:i+len(w)]) == w {
			return true
		}
	}
	return false
}

// rawMask is the client's masking key; any value is valid (RFC 6455 §5.3).
var rawMask = [4]byte{0x12, 0x34, 0x56, 0x78}

// ClientFrame encodes one client frame: masked unless unmasked is set, with
// first carrying FIN, RSV and the opcode.
func ClientFrame(first byte, payload []byte, unmasked bool) []byte {
	b := []byte{first}
	mb := byte(MaskBit)
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
	b = append(b, rawMask[:]...)
	for i, c := range payload {
		b = append(b, c^rawMask[i%4])
	}
	return b
}

// Write sends one masked frame.
func (r *RawWS) Write(fin bool, op byte, payload []byte) error {
	first := op
	if fin {
		first |= FinBit
	}
	return r.WriteBytes(ClientFrame(first, payload, false))
}

// WriteBytes writes b to the socket as is.
func (r *RawWS) WriteBytes(b []byte) error {
	if err := r.Conn.SetWriteDeadline(time.Now().Add(Timeout)); err != nil {
		return err
	}
	_, err := r.Conn.Write(b)
	return err
}

// WriteHeader sends only a frame header declaring length bytes, with a zero
// masking key so the payload can then be streamed unmodified.
func (r *RawWS) WriteHeader(fin bool, op byte, length uint64) error {
	first := op
	if fin {
		first |= FinBit
	}
	b := []byte{first, MaskBit | 127}
	b = binary.BigEndian.AppendUint64(b, length)
	return r.WriteBytes(append(b, 0, 0, 0, 0))
}

// ReadFrame reads one server frame (servers never mask).
func (r *RawWS) ReadFrame(timeout time.Duration) (op byte, payload []byte, err error) {
	if err := r.Conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
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
	if h[1]&MaskBit != 0 {
		return 0, nil, errors.New("server frame is masked")
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.br, payload)
	return op, payload, err
}

// CloseFrameError is a close frame received where a message was expected.
type CloseFrameError struct{ Code int }

func (e *CloseFrameError) Error() string { return fmt.Sprintf("close frame %d", e.Code) }

// ReadMessage returns the next data frame, skipping pings and pongs; a close
// frame becomes a *CloseFrameError.
func (r *RawWS) ReadMessage(timeout time.Duration) (byte, []byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		op, payload, err := r.ReadFrame(time.Until(deadline))
		if err != nil {
			return 0, nil, err
		}
		switch op {
		case OpPing, OpPong:
			continue
		case OpClose:
			code := 1005
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			return op, payload, &CloseFrameError{Code: code}
		}
		return op, payload, nil
	}
}

// AwaitEnd reads until the connection ends and returns the close code the
// server sent, or 0 when the socket ended without a close frame. It fails
// the test if the connection is still open after timeout.
func (r *RawWS) AwaitEnd(t testing.TB, timeout time.Duration) int {
	t.Helper()
	code, ended := r.EndCode(timeout)
	if !ended {
		t.Fatalf("connection still open after %s", timeout)
	}
	return code
}

// EndCode is AwaitEnd for any goroutine: ended is false on timeout.
func (r *RawWS) EndCode(timeout time.Duration) (code int, ended bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, _, err := r.ReadMessage(time.Until(deadline))
		var ce *CloseFrameError
		var ne net.Error
		switch {
		case errors.As(err, &ce):
			return ce.Code, true
		case err == nil:
			continue
		case errors.As(err, &ne) && ne.Timeout():
			return 0, false
		default:
			return 0, true // EOF or reset: ended without a close frame
		}
	}
	return 0, false
}
