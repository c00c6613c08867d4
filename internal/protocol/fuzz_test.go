package protocol

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzDecode feeds Decode arbitrary frames. Decode must never panic; it
// either refuses a frame with one VALIDATION_ERROR (a short, non-empty
// problem list, nothing of Go's internals) or accepts it, and an accepted
// envelope must encode to a frame that decodes to the same envelope and
// encodes to the same bytes again. The input is also split at a fuzzed point
// and both parts decoded, so truncated frames and their tails are covered
// from every seed.
//
// The seed corpus lives in testdata/fuzz/FuzzDecode; the golden envelopes
// are added here too.
func FuzzDecode(f *testing.F) {
	addGoldenSeeds(f)
	serverLimits := Limits{MaxDepth: DefaultLimits.MaxDepth, ServerFrames: true}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		fuzzDecodeOnce(t, data, DefaultLimits)
		fuzzDecodeOnce(t, data, serverLimits)
		cut := int(split) % (len(data) + 1)
		fuzzDecodeOnce(t, data[:cut], DefaultLimits)
		fuzzDecodeOnce(t, data[cut:], DefaultLimits)
	})
}

// fuzzInternals are words that would mean a Go error leaked into a reply.
// Problems may quote the client's own input, so quoted text is not searched.
var (
	fuzzInternals = []string{"json:", "unmarshal", "Unmarshal", "map[string]", "runtime error", "*protocol", "reflect"}
	fuzzQuoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

func fuzzDecodeOnce(t *testing.T, data []byte, lim Limits) {
	t.Helper()
	env, err := Decode(data, lim)
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			t.Fatalf("Decode(%q) returned %T, not *Error: %v", data, err, err)
		}
		if we.Code != CodeValidation {
			t.Fatalf("Decode(%q) returned code %s, want %s", data, we.Code, CodeValidation)
		}
		if len(we.Problems) == 0 || len(we.Problems) > maxProblems {
			t.Fatalf("Decode(%q) returned %d problems, want 1..%d", data, len(we.Problems), maxProblems)
		}
		text := fuzzQuoted.ReplaceAllString(we.Error(), `""`)
		for _, w := range fuzzInternals {
			if strings.Contains(text, w) {
				t.Fatalf("Decode(%q) leaks %q: %v", data, w, we)
			}
		}
		return
	}
	frame := Encode(env)
	again, err := Decode(frame, lim)
	if err != nil {
		t.Fatalf("accepted %q, but its encoding %s is refused: %v", data, frame, err)
	}
	if !fuzzSameEnvelope(env, again) {
		t.Fatalf("accepted %q, but its encoding %s decodes to %s", data, frame, Encode(again))
	}
	if second := Encode(again); !bytes.Equal(frame, second) {
		t.Fatalf("accepted %q, but re-encoding is unstable:\n%s\n%s", data, frame, second)
	}
}

// fuzzSameEnvelope compares envelopes: times by instant, raw JSON fields byte
// for byte, everything else exactly.
func fuzzSameEnvelope(a, b *Envelope) bool {
	x, y := *a, *b
	if !x.Timestamp.Equal(y.Timestamp) {
		return false
	}
	if !bytes.Equal(x.Payload, y.Payload) || !bytes.Equal(x.Args, y.Args) || !bytes.Equal(x.Metadata, y.Metadata) {
		return false
	}
	x.Timestamp = y.Timestamp
	x.Payload, x.Args, x.Metadata = nil, nil, nil
	y.Payload, y.Args, y.Metadata = nil, nil, nil
	return reflect.DeepEqual(x, y)
}

// addGoldenSeeds adds every golden envelope and reply, split in the middle,
// to a fuzz target taking (frame, split).
func addGoldenSeeds(f *testing.F) {
	for _, pattern := range []string{"testdata/golden/*.json", "testdata/golden/replies/*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			b = bytes.TrimSpace(b)
			f.Add(b, uint16(len(b)/2))
		}
	}
}
