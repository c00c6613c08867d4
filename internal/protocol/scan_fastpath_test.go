package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The splitter is Decode's fast path: a frame it refuses still decodes
// right, through encoding/json, only slower and with more allocations. So
// the differential tests cannot see a splitter that refuses too much; these
// pin that it takes every valid frame itself, with the members encoding/json
// finds, and refuses every invalid one.

// jsonMembers is what encoding/json finds in an object frame.
func jsonMembers(t *testing.T, frame string) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(frame), &m))
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func splitMembers(ms []member) map[string]string {
	out := make(map[string]string, len(ms))
	for _, m := range lastWins(ms) {
		out[string(m.key)] = string(m.raw)
	}
	return out
}

// manyDuplicates repeats five names forty times each, interleaved: more
// than a small sort keeps in place, so only the frame position can tell
// which duplicate is the last.
var manyDuplicates = func() string {
	var b strings.Builder
	b.WriteString("{")
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i*7%5, i)
	}
	return b.String() + "}"
}()

func TestTheSplitterTakesEveryValidFrameItself(t *testing.T) {
	nest := func(open, leaf, close string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	for _, c := range []struct {
		name, frame string
		maxDepth    int
	}{
		{"an empty object", `{}`, 32},
		{"an empty object with space", " \t{ \r\n} \n", 32},
		{"one member", `{"a":1}`, 32},
		{"space around every token", " {\n\"a\" :\t1 ,\r\"b\" : [ 1 , { } , [ ] , \"x\" ] , \"c\" : { \"d\" : null } } ", 32},
		{"nested containers", `{"a":{"b":[1,{"c":[]},[],{},[[]]],"e":{"f":{}}},"g":[{"h":1},{}]}`, 32},
		{"containers closing one after another", `{"a":[[1],[2]],"b":{"c":{"d":[3]}},"e":4}`, 32},
		{"every escape in a string", `{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00 \uABCD \uabcd \u09fF"}`, 32},
		{"escaped names", `{"\u0069d":1,"a\"b":2,"":3}`, 32},
		{"duplicate names", `{"a":1,"b":2,"a":3}`, 32},
		{"many duplicates, interleaved", manyDuplicates, 32},
		{"literals", `{"t":true,"f":false,"n":null,"l":[true,false,null]}`, 32},
		{"numbers of every shape", `{"a":[0,-0,7,-7,10,1.5,-1.5,0.25,1e5,1E5,1e+5,1e-5,-1.5e10,2E-3,0.0e0,123456789012345678901234567890]}`, 32},
		{"a number ends the frame's last member", `{"a":12}`, 32},
		{"a number before space", `{"a":1.5e3 }`, 32},
		{"strings and literals ending containers", `{"a":["x"],"b":[true],"c":{"d":"e"},"f":{"g":false}}`, 32},
		{"depth one: the object itself", `{"a":1,"b":"x"}`, 1},
		{"depth two", `{"a":{"b":1},"c":[2]}`, 2},
		{"depth 64 inside, the splitter's own bound", `{"a":` + nest("[", "1", "]", 64) + `}`, 100},
		{"depth 32 objects", `{"a":` + nest(`{"b":`, "1", "}", 31) + `}`, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms, ok := splitObject([]byte(c.frame), c.maxDepth, nil)
			require.True(t, ok, "the splitter refused a valid frame")
			assert.Equal(t, jsonMembers(t, c.frame), splitMembers(ms))
		})
	}
}

func TestTheSplitterRefusesEveryInvalidOrTooDeepFrame(t *testing.T) {
	nest := func(open, leaf, close string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	for _, c := range []struct {
		name, frame string
		maxDepth    int
	}{
		{"empty", ``, 32},
		{"blank", `   `, 32},
		{"an array", `[1]`, 32},
		{"a depth limit of zero", `{"a":1}`, 0},
		{"an object deeper than the limit", `{"a":{"b":1}}`, 1},
		{"an array deeper than the limit", `{"a":[1]}`, 1},
		{"an empty container deeper than the limit", `{"a":{}}`, 1},
		{"deeper than the splitter's own bound", `{"a":` + nest("[", "1", "]", 65) + `}`, 100},
		{"a lone open brace", `{`, 32},
		{"an open brace and space", `{ `, 32},
		{"a name that is not a string", `{a:1}`, 32},
		{"an unclosed name", `{"a`, 32},
		{"a name without a colon", `{"a" 1}`, 32},
		{"a name at the end", `{"a"`, 32},
		{"a colon at the end", `{"a":`, 32},
		{"a missing value", `{"a":}`, 32},
		{"a missing comma", `{"a":1 "b":2}`, 32},
		{"a trailing comma", `{"a":1,}`, 32},
		{"a member at the end", `{"a":1`, 32},
		{"a member and space at the end", `{"a":1 `, 32},
		{"trailing garbage", `{"a":1}x`, 32},
		{"a second object", `{"a":1}{}`, 32},
		{"an escaped name that is invalid", `{"\x":1}`, 32},
		{"a leading zero", `{"a":01}`, 32},
		{"a bare minus", `{"a":-}`, 32},
		{"a minus at the end", `{"a":-`, 32},
		{"a minus before a letter", `{"a":-x}`, 32},
		{"a dot without digits", `{"a":1.}`, 32},
		{"a dot at the end", `{"a":1.`, 32},
		{"a leading dot", `{"a":.5}`, 32},
		{"an exponent without digits", `{"a":1e}`, 32},
		{"an exponent at the end", `{"a":1e`, 32},
		{"an exponent sign without digits", `{"a":1e+}`, 32},
		{"an exponent sign at the end", `{"a":1e-`, 32},
		{"a plus sign", `{"a":+1}`, 32},
		{"a misspelt literal", `{"a":tru}`, 32},
		{"a literal cut short", `{"a":nul`, 32},
		{"a literal with a tail", `{"a":truex}`, 32},
		{"a false with a tail", `{"a":falsey}`, 32},
		{"an unclosed string", `{"a":"x`, 32},
		{"an escape at the end", `{"a":"x\`, 32},
		{"an invalid escape", `{"a":"\x"}`, 32},
		{"a short unicode escape", `{"a":"\u12"}`, 32},
		{"a unicode escape cut by the end", `{"a":"\u12`, 32},
		{"a unicode escape ending the frame", `{"a":"\u1234`, 32},
		{"three hex digits ending the frame", `{"a":"\u123`, 32},
		{"a non-hex unicode escape", `{"a":"\u12g4"}`, 32},
		{"a raw control character", "{\"a\":\"x\ty\"}", 32},
		{"a trailing comma in an array", `{"a":[1,]}`, 32},
		{"a trailing comma in an object", `{"a":{"b":1,}}`, 32},
		{"a missing comma in an array", `{"a":[1 2]}`, 32},
		{"a missing comma in an object", `{"a":{"b":1 "c":2}}`, 32},
		{"mismatched brackets", `{"a":[1}]`, 32},
		{"mismatched braces", `{"a":{"b":1]}`, 32},
		{"a non-string name inside", `{"a":{1:2}}`, 32},
		{"a name without a colon inside", `{"a":{"b" 2}}`, 32},
		{"a name at the end inside", `{"a":{"b"`, 32},
		{"an unclosed array", `{"a":[1`, 32},
		{"an unclosed array and space", `{"a":[1 `, 32},
		{"an unclosed object inside", `{"a":{"b":1`, 32},
		{"an open array at the end", `{"a":[`, 32},
		{"an open object at the end", `{"a":{`, 32},
		{"an open array and space at the end", `{"a":[ `, 32},
		{"a value after the end", `{"a":[] 1}`, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			// No spare capacity: a read past the frame panics here.
			frame := []byte(c.frame)
			_, ok := splitObject(frame[:len(frame):len(frame)], c.maxDepth, nil)
			assert.False(t, ok, "the splitter took %q", c.frame)
		})
	}
}

// TestSkipValueStopsAtTheEndOfEachKindOfValue: the splitter's value scanner
// returns the index just past a complete value, whatever follows it.
func TestSkipValueStopsAtTheEndOfEachKindOfValue(t *testing.T) {
	for _, v := range []string{`0`, `-0`, `12`, `1.5`, `1e5`, `1E+5`, `1.5e-5`, `"x"`, `"\u00e9"`, `true`, `false`, `null`, `[]`, `{}`, `[1,[2]]`, `{"a":{"b":[]}}`} {
		for _, after := range []string{"", " ", ",", "}", "]"} {
			end, ok := skipValue([]byte(v+after), 0, 32)
			assert.True(t, ok, "%q", v+after)
			assert.Equal(t, len(v), end, "%q", v+after)
		}
	}
}
