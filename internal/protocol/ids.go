package protocol

import (
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// processStart is the unix-ns prefix of every generated message id, so ids of
// one process sort by their counter and never repeat across restarts.
var (
	processStart = strconv.FormatInt(time.Now().UnixNano(), 10)
	idCounter    atomic.Uint64
)

// NewMessageID returns arq_<unix-ns-at-start>_<counter>_<6 hex>.
func NewMessageID() string {
	n := idCounter.Add(1)
	r := mrand.Uint32()
	b := make([]byte, 0, 4+len(processStart)+1+20+1+6)
	b = append(b, "arq_"...)
	b = append(b, processStart...)
	b = append(b, '_')
	b = strconv.AppendUint(b, n, 10)
	b = append(b, '_')
	for shift := 20; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(r>>uint(shift))&0xf])
	}
	return string(b)
}

// NewClientID returns arq_client_<32 hex> from 128 random bits.
func NewClientID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return "arq_client_" + hex.EncodeToString(raw[:])
}

// Stamp gives e a server id and timestamp when the client sent none, and
// truncates the timestamp to the microseconds the wire carries.
func Stamp(e *Envelope, now time.Time) {
	e.ID, e.Timestamp = stampID(e.ID), stampTime(e.Timestamp, now)
}

// stampID and stampTime are Stamp's rules, for values a caller keeps on its
// stack (Stamp's pointer would move them to the heap).
func stampID(id string) string {
	if id == "" {
		return NewMessageID()
	}
	return id
}

func stampTime(t, now time.Time) time.Time {
	if t.IsZero() {
		t = now
	}
	return t.UTC().Truncate(time.Microsecond)
}
