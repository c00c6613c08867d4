package protocol

import (
	"bytes"
	"os"
	"testing"
)

func benchFrame(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile("testdata/golden/message.json")
	if err != nil {
		b.Fatal(err)
	}
	return bytes.TrimSpace(data)
}

// BenchmarkDecode decodes and validates a typical room message.
func BenchmarkDecode(b *testing.B) {
	frame := benchFrame(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := Decode(frame, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReference decodes the same message with decodeReference,
// the encoding/json decoder Decode replaces, for comparison.
func BenchmarkDecodeReference(b *testing.B) {
	frame := benchFrame(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := decodeReference(frame, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode encodes the same message into a reused buffer, as the
// fan-out path does once per publish.
func BenchmarkEncode(b *testing.B) {
	env, err := Decode(benchFrame(b), DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEnvelope(buf[:0], env)
	}
	b.SetBytes(int64(len(buf)))
}
