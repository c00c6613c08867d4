package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// Server-to-client frames are unmasked, so the writer builds them itself and
// can put many frames into one socket write (coalescing). Opcodes per RFC 6455.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
	finBit  = 0x80
)

// maxControlPayload is the RFC 6455 limit for control frame payloads, bytes.
const maxControlPayload = 125

// appendFrame appends one final frame with the given opcode and payload.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = appendHeader(dst, op, len(payload))
	return append(dst, payload...)
}

func appendHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, finBit|op, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, finBit|op, 126)
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finBit|op, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// closePayload is a close frame body: the code and a reason cut to fit.
func closePayload(code int, reason string) []byte {
	max := maxControlPayload - 2
	if len(reason) > max {
		reason = reason[:max]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(p, reason...)
}
