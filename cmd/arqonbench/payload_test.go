package main

import (
	"encoding/json"
	"testing"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

func TestPayloadRoundTripsThroughADeliveredEnvelope(t *testing.T) {
	for _, size := range []int{0, 64, 128, 1000} {
		p := appendPayload(nil, 1_700_000_000_123_456_789, 4242, size)
		if size >= 64 && len(p) != size {
			t.Errorf("size %d: payload is %d bytes", size, len(p))
		}
		var obj map[string]any
		if err := json.Unmarshal(p, &obj); err != nil {
			t.Fatalf("size %d: payload is not a JSON object: %v: %s", size, err, p)
		}
		// What a subscriber gets: the server's envelope around the payload.
		frame := protocol.Encode(&protocol.Envelope{
			ID: "b0-4242", Type: protocol.TypeMessage, Version: "1.0", Room: "r", Channel: "c",
			Sender: "arq_client_x", FromClient: "arq_client_x", Payload: p,
		})
		ts, seq, ok := parsePayload(frame)
		if !ok || ts != 1_700_000_000_123_456_789 || seq != 4242 {
			t.Errorf("size %d: parsed ts=%d seq=%d ok=%v from %s", size, ts, seq, ok, frame)
		}
	}
}

func TestPublishFrameIsAValidMessageEnvelope(t *testing.T) {
	frame := messageFrame(nil, "b0-7", "room", "chan", appendPayload(nil, 1, 7, 128))
	env, err := protocol.Decode(frame, protocol.Limits{MaxDepth: 32})
	if err != nil {
		t.Fatalf("decode %s: %v", frame, err)
	}
	if env.Type != protocol.TypeMessage || env.Room != "room" || env.Channel != "chan" || env.ID != "b0-7" {
		t.Fatalf("unexpected envelope %+v", env)
	}
}

func TestParsePayloadRefusesOtherFrames(t *testing.T) {
	for _, frame := range []string{
		`{"type":"message","payload":{"welcome":"hi"}}`,
		`{"payload":{"ts":12,"other":3}}`,
		`{"payload":{"ts":,"seq":3}}`,
		`{"payload":{"ts":1,"seq":}}`,
		`{"payload":{"ts":99999999999999999999,"seq":1}}`,
	} {
		if _, _, ok := parsePayload([]byte(frame)); ok {
			t.Errorf("parsed %s", frame)
		}
	}
}

func TestAckCounterReadsAcksAndErrors(t *testing.T) {
	var a acks
	a.onFrame(protocol.Encode(protocol.MessageAck("b0-1", 1000, false, timeZero)))
	a.onFrame([]byte(`{"type":"error","error":"nope","error_code":"VALIDATION_ERROR"}`))
	if a.n.Load() != 1 || a.delivered.Load() != 1000 || a.errs.Load() != 1 || a.firstErr.Load() == nil {
		t.Fatalf("acks %d delivered %d errors %d", a.n.Load(), a.delivered.Load(), a.errs.Load())
	}
}
