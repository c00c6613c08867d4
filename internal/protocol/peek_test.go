package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestPeekIDFindsTheTopLevelIDOfAnyFrame(t *testing.T) {
	big := `"` + strings.Repeat("x", 1<<20) + `"`
	for _, tt := range []struct {
		name, frame, want string
	}{
		{"a plain id", `{"id":"m-1","type":"message"}`, "m-1"},
		{"the id after a large payload", `{"payload":` + big + `,"id":"m-2"}`, "m-2"},
		{"a repeated id: the last wins, as in decoding", `{"id":"first","id":"second"}`, "second"},
		{"an escaped id", `{"id":"m\u002d3"}`, "m-3"},
		{"an id nested deeper is not the frame's", `{"payload":{"id":"inner"}}`, ""},
		{"a name in another case is another name", `{"ID":"m-4"}`, ""},
		{"an id that is not a string", `{"id":42}`, ""},
		{"an id that is not valid", `{"id":"has space"}`, ""},
		{"not an object", `["id","m-5"]`, ""},
		{"not JSON", `{"id":"m-6"`, ""},
		{"empty", ``, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PeekID([]byte(tt.frame)))
		})
	}
}

// The error payload is built by hand for speed; it must say exactly what
// encoding/json said of the same map, whatever the text holds.
func TestTheErrorPayloadDecodesAsTheMapItReplaced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		err := &Error{
			Code:     Code(rapid.String().Draw(t, "code")),
			Message:  rapid.String().Draw(t, "message"),
			Problems: rapid.SliceOf(rapid.String()).Draw(t, "problems"),
		}
		want, e := json.Marshal(map[string]any{"code": err.Code, "message": err.Message, "errors": problems(err)})
		require.NoError(t, e)
		var got, ref map[string]any
		require.NoError(t, json.Unmarshal(errorPayload(err), &got), "%s", errorPayload(err))
		require.NoError(t, json.Unmarshal(want, &ref))
		require.Equal(t, ref, got)
	})
}

func TestTheErrorPayloadOfPlainTextIsByteForByteWhatItWas(t *testing.T) {
	err := NewError(CodeRateLimitExceeded, "rate limit exceeded; the frame was dropped")
	want := `{"code":"RATE_LIMIT_EXCEEDED","errors":[],"message":"rate limit exceeded; the frame was dropped"}`
	assert.JSONEq(t, want, string(errorPayload(err)))
	assert.Equal(t, want, string(errorPayload(err)))
	v := ValidationError("args.limit must be 1-500", "args.since is not a time")
	assert.Equal(t, `{"code":"VALIDATION_ERROR","errors":["args.limit must be 1-500","args.since is not a time"],"message":"`+v.Message+`"}`,
		string(errorPayload(v)))
}

func BenchmarkPeekID(b *testing.B) {
	frame := []byte(`{"id":"m-1","type":"message","room":"r","channel":"c","payload":"` + strings.Repeat("x", 64<<10) + `"}`)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if PeekID(frame) != "m-1" {
			b.Fatal("no id")
		}
	}
}

func BenchmarkErrorReply(b *testing.B) {
	err := NewError(CodeRateLimitExceeded, "rate limit exceeded; the frame was dropped")
	b.ReportAllocs()
	for b.Loop() {
		_ = Encode(ErrorReply("m-1", err, time.Time{}))
	}
}
