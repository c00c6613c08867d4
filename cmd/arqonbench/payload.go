package main

import (
	"bytes"
	"math"
	"strconv"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// A bench payload is a JSON object whose first two keys are the planned send
// time and the sequence number, padded to the requested size:
//
//	{"ts":1700000000000000000,"seq":42,"pad":"xxxx"}
//
// The server passes payloads through byte for byte, so a receiver finds the
// fields with one bytes.Index instead of decoding the envelope.
const (
	payloadHead = `{"ts":`
	payloadSeq  = `,"seq":`
	payloadPad  = `,"pad":"`
	payloadTail = `"}`
)

// padding is copied into payloads; a payload larger than this is refused by
// flag validation long before (maxPayload).
var padding = bytes.Repeat([]byte{'x'}, maxPayload)

const maxPayload = 1 << 20

// appendPayload appends a payload of size bytes (or the minimum that holds
// ts and seq, when size is smaller) to dst.
func appendPayload(dst []byte, ts, seq int64, size int) []byte {
	start := len(dst)
	dst = append(dst, payloadHead...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, payloadSeq...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, payloadPad...)
	if n := size - (len(dst) - start) - len(payloadTail); n > 0 {
		dst = append(dst, padding[:n]...)
	}
	return append(dst, payloadTail...)
}

// parsePayload finds the send time and sequence number in a delivered frame.
func parsePayload(frame []byte) (ts, seq int64, ok bool) {
	i := bytes.Index(frame, []byte(payloadHead))
	if i < 0 {
		return 0, 0, false
	}
	rest := frame[i+len(payloadHead):]
	ts, n := parseInt(rest)
	if n == 0 || !bytes.HasPrefix(rest[n:], []byte(payloadSeq)) {
		return 0, 0, false
	}
	seq, m := parseInt(rest[n+len(payloadSeq):])
	if m == 0 {
		return 0, 0, false
	}
	return ts, seq, true
}

// parseInt reads a non-negative decimal integer at the start of b and
// returns it with the number of digits read (0: none, or an overflow).
func parseInt(b []byte) (int64, int) {
	var v int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, 0
		}
		v = v*10 + d
	}
	return v, i
}

// messageFrame builds a publish envelope for room:channel around payload.
func messageFrame(dst []byte, id, room, channel string, payload []byte) []byte {
	return protocol.AppendEnvelope(dst, &protocol.Envelope{
		ID: id, Type: protocol.TypeMessage, Room: room, Channel: channel, Payload: payload,
	})
}
