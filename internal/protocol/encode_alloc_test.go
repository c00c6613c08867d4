package protocol_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// TestEncodeAllocatesOnceForTheTightestEnvelope: a timestamp and the longest
// field name, request_id, leave the size estimate the least slack, and the
// frame is still built in one allocation.
func TestEncodeAllocatesOnceForTheTightestEnvelope(t *testing.T) {
	env := &protocol.Envelope{
		Timestamp: time.Date(2026, 11, 27, 4, 0, 0, 123456000, time.UTC),
		RequestID: strings.Repeat("r", 100),
	}
	var out []byte
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { out = protocol.Encode(env) }))
	assert.Equal(t, `{"timestamp":"2026-11-27T04:00:00.123456Z","request_id":"`+strings.Repeat("r", 100)+`"}`, string(out))
}

// TestZeroLimitsDecodeLikeTheDefaults: clients decode with
// Limits{ServerFrames: true}, whose zero depth means the default, fast path
// included: a typical frame costs what it costs with DefaultLimits.
func TestZeroLimitsDecodeLikeTheDefaults(t *testing.T) {
	frame := []byte(`{"id":"arq_msg_001","timestamp":"2026-01-02T03:04:05.123456Z","type":"message","version":"1.0","room":"science","channel":"explore","sender":"s","payload":{"text":"hello"}}`)
	decode := func(lim protocol.Limits) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := protocol.Decode(frame, lim); err != nil {
				t.Fatal(err)
			}
		})
	}
	assert.Equal(t, decode(protocol.DefaultLimits), decode(protocol.Limits{}))
	assert.Equal(t, decode(protocol.Limits{MaxDepth: 32, ServerFrames: true}), decode(protocol.Limits{ServerFrames: true}))
}
