package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// The floor writer sends what the server would send a fanout subscriber: a
// WebSocket text frame (unmasked, as from a server) around the envelope the
// server delivers for fanout's publish, encoded by the server's own encoder
// with the same fields (id, timestamp, type, version, room, channel, sender,
// from_client, payload). Names have the length of a fanout run's: a room
// "arqonbench-" + 8 hex digits, the channel "fanout", client ids of
// "arq_client_" + 32 hex digits. So the bytes per write match the server's
// (397 for a 128-byte payload and 4-digit ids), which is what the kernel's
// cost depends on.
//
// Every frame of a run has the same size, so readers can read fixed-size
// frames: the id's sequence number is zero-padded to the width of the
// largest, and payloads of the minimum size are padded to the size of the
// largest sequence number's (the server's frames vary by those few bytes).
const (
	floorRoom    = "arqonbench-00000000"
	floorChannel = "fanout"
)

var floorClientID = "arq_client_" + strings.Repeat("0", 32)

// floorFrame builds the frames of one run. Not safe for concurrent use: the
// buffers are reused from burst to burst.
type floorFrame struct {
	width   int // digits of the largest sequence number
	size    int // payload bytes
	payload []byte
	body    []byte
	frame   []byte
}

// newFloorFrame lays out the frames of a run of total bursts with payloads
// of at least size bytes.
func newFloorFrame(total int64, size int) *floorFrame {
	last := max(total-1, 0)
	// Planned times are 19 digits of unix nanoseconds until the year 2286.
	minimum := len(appendPayload(nil, time.Now().UnixNano(), last, 0))
	return &floorFrame{width: len(strconv.FormatInt(last, 10)), size: max(size, minimum)}
}

// build returns the frame of burst seq planned at planned, valid until the
// next call.
func (f *floorFrame) build(planned time.Time, seq int64) []byte {
	f.payload = appendPayload(f.payload[:0], planned.UnixNano(), seq, f.size)
	id := strconv.FormatInt(seq, 10)
	id = "b0-" + strings.Repeat("0", max(f.width-len(id), 0)) + id
	f.body = protocol.AppendEnvelope(f.body[:0], &protocol.Envelope{
		ID: id, Timestamp: planned, Type: protocol.TypeMessage, Version: protocol.Version,
		Room: floorRoom, Channel: floorChannel, Sender: floorClientID, FromClient: floorClientID,
		Payload: f.payload,
	})
	f.frame = append(appendFrameHeader(f.frame[:0], len(f.body)), f.body...)
	return f.frame
}

// layout is the size of every frame of the run and the header they all
// start with, for the readers.
func (f *floorFrame) layout() (size int, header []byte) {
	fr := f.build(time.Now(), 0)
	n := len(fr) - len(f.body)
	return len(fr), append([]byte(nil), fr[:n]...)
}

// appendFrameHeader appends the header of a final, unmasked WebSocket text
// frame of n payload bytes (RFC 6455 section 5.2).
func appendFrameHeader(dst []byte, n int) []byte {
	const finText = 0x81
	switch {
	case n <= 125:
		return append(dst, finText, byte(n))
	case n <= 0xffff:
		return append(dst, finText, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, finText, 127), uint64(n))
}
