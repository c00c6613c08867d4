package protocol

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// diffLimits are the limits every differential case runs under: the
// server's, the client's, and depths that put the limit inside payloads or
// past the splitter's own nesting bound.
var diffLimits = []Limits{
	DefaultLimits,
	{MaxDepth: 64, ServerFrames: true},
	{ServerFrames: true},
	{MaxDepth: 1},
	{MaxDepth: 2},
	{MaxDepth: 100},
}

// checkMatchesReference decodes data with Decode and with decodeReference
// and fails unless envelopes and errors are equal. Decode works on its own
// copy of the frame, which is overwritten afterwards, so an envelope that
// still points into the caller's buffer shows up as a difference.
func checkMatchesReference(t testing.TB, data []byte, lim Limits) {
	t.Helper()
	wantEnv, wantErr := decodeReference(data, lim)
	frame := bytes.Clone(data)
	gotEnv, gotErr := Decode(frame, lim)
	for i := range frame {
		frame[i] = '#'
	}
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("Decode(%q, %+v) error:\n got  %v\n want %v", data, lim, gotErr, wantErr)
	}
	if !reflect.DeepEqual(gotEnv, wantEnv) {
		t.Fatalf("Decode(%q, %+v) envelope:\n got  %#v\n want %#v", data, lim, gotEnv, wantEnv)
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	nest := func(open, leaf, close string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	msg := func(payload string) string {
		return `{"type":"message","room":"r","channel":"c","payload":` + payload + `}`
	}
	var unknown strings.Builder
	unknown.WriteString(`{"type":"command","command":"ping"`)
	for i := range 100 {
		unknown.WriteString(`,"k` + strconv.Itoa(i*37%100) + `":` + strconv.Itoa(i))
	}
	unknown.WriteString(`,"id":"bad id"}`)
	var huge strings.Builder
	huge.WriteString(`{"type":"command","command":"ping"`)
	for i := range 100000 {
		huge.WriteString(`,"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":` + strconv.Itoa(i))
	}
	huge.WriteString(`}`)

	cases := []struct{ name, frame string }{
		{"a typical room message", `{"id":"arq_msg_001","timestamp":"2026-01-02T03:04:05.123456Z","type":"message","version":"1.0","room":"science","channel":"explore","sender":"s","from_client":"f","payload":{"text":"hello","n":1},"metadata":{"trace":"t-1"}}`},
		{"two fields given twice", `{"type":"command","command":"ping","command":"status","type":"event"}`},
		{"a null duplicate", `{"type":"command","command":"ping","command":null}`},
		{"a duplicate of a null", `{"type":"command","command":null,"command":"ping"}`},
		{"duplicate objects", `{"type":"message","room":"r","channel":"c","payload":{"a":1},"payload":{"b":2}}`},
		{"a duplicate of the wrong kind", `{"type":"message","room":"r","channel":"c","payload":{"a":1},"payload":[2]}`},
		{"escaped names", `{"\u0069d":"x1","\u0074ype":"command","command":"ping"}`},
		{"an escaped name duplicates a plain one", `{"id":"a","\u0069d":"b","type":"command","command":"ping"}`},
		{"a plain name duplicates an escaped one", `{"\u0069d":"a","id":"b","type":"command","command":"ping"}`},
		{"a name with a lone surrogate", `{"\ud800":1,"type":"command","command":"x"}`},
		{"a name with a reversed surrogate pair", `{"\udc00\ud800x":1,"type":"command","command":"x"}`},
		{"a name with a quote", `{"a\"b":1,"type":"command","command":"x"}`},
		{"an empty name", `{"":1,"type":"command","command":"x"}`},
		{"names that sort around known ones", `{"zz":1,"Type":2,"aa":3,"type":"command","id":7,"command":"x"}`},
		{"every field null", `{"id":null,"timestamp":null,"type":null,"version":null,"room":null,"channel":null,"sender":null,"from_client":null,"to_client":null,"payload":null,"command":null,"args":null,"request_id":null,"status":null,"error":null,"error_code":null,"metadata":null}`},
		{"null fields next to valid ones", `{"type":"message","room":"r","channel":"c","payload":{},"to_client":null,"metadata":null,"id":null}`},
		{"a byte order mark", "\ufeff" + `{"type":"command","command":"ping"}`},
		{"whitespace everywhere", " \t\r\n{ \"type\" :\t\"command\" ,\r\n\"command\"\n:\"ping\" , \"payload\" : { \"a\" : [ 1 , { } , [ ] , \"x\" ] } \t} \r\n"},
		{"non-JSON space before", "\v{\"type\":\"command\",\"command\":\"ping\"}"},
		{"non-JSON space after", "{\"type\":\"command\",\"command\":\"ping\"}\u00a0"},
		{"form feed after", "{\"type\":\"command\",\"command\":\"ping\"}\f"},
		{"trailing garbage", `{"type":"command","command":"ping"}x`},
		{"a second object", `{"type":"command","command":"ping"}{}`},
		{"a trailing comma", `{"type":"command","command":"ping",}`},
		{"a trailing comma in a payload", msg(`{"a":[1,2,],"b":1}`)},
		{"a missing colon", `{"type" "command"}`},
		{"a missing value", `{"type":}`},
		{"an unclosed object", `{"type":"command"`},
		{"an unclosed string", `{"type":"comm`},
		{"an unclosed payload", msg(`{"a":[1,{"b":2}`)},
		{"mismatched brackets", msg(`{"a":[1}]`)},
		{"a number as id", `{"id":1e5,"type":"command","command":"x"}`},
		{"numbers of every shape", msg(`{"a":[0,-0,1.5,-1.5e10,2E-3,1e+2,123456789012345678901234567890]}`)},
		{"a leading zero", msg(`{"a":01}`)},
		{"a bare minus", msg(`{"a":-}`)},
		{"a dot without digits", msg(`{"a":1.}`)},
		{"a leading dot", msg(`{"a":.5}`)},
		{"an exponent without digits", msg(`{"a":1e}`)},
		{"an exponent sign without digits", msg(`{"a":1e+}`)},
		{"a plus sign", msg(`{"a":+1}`)},
		{"literals", msg(`{"a":[true,false,null]}`)},
		{"a misspelt literal", msg(`{"a":tru}`)},
		{"a literal cut short", `{"a":nul`},
		{"a literal with a tail", msg(`{"a":truex}`)},
		{"an array frame", `[1,2]`},
		{"an empty array frame", `[]`},
		{"a string frame", `"hi"`},
		{"a true frame", `true`},
		{"a false frame", ` false `},
		{"a null frame", `null`},
		{"a number frame", `42`},
		{"a negative number frame", `-1`},
		{"a broken literal frame", `tru`},
		{"a broken number frame", `-`},
		{"an empty frame", ``},
		{"a blank frame", " \n\t "},
		{"a lone open brace", `{`},
		{"a lone close brace", `}`},
		{"an empty object", `{}`},
		{"an empty object with space", ` { } `},
		{"a nested payload", msg(`{"a":{"b":{"c":[1,[2,[3,{"d":"]}"}]]]}},"e":"{["}`)},
		{"invalid UTF-8 in a string", "{\"type\":\"message\xff\"}"},
		{"invalid UTF-8 in a name", "{\"typ\xc3\":\"message\"}"},
		{"invalid UTF-8 outside strings", "{\"type\":\"command\"}\xff"},
		{"escapes in a room", `{"type":"message","room":"a\nb","channel":"c\u00e9","payload":{}}`},
		{"a surrogate pair", `{"type":"message","room":"\ud83d\ude00","channel":"c","payload":{}}`},
		{"a lone high surrogate", `{"type":"message","room":"\ud800","channel":"c","payload":{}}`},
		{"a lone low surrogate", `{"type":"message","room":"x\udc00y","channel":"c","payload":{}}`},
		{"a high surrogate before a letter", `{"type":"command","command":"\ud800\u0041"}`},
		{"an escaped slash", `{"type":"command","command":"a\/b"}`},
		{"an invalid escape", `{"type":"command","command":"a\xb"}`},
		{"a short unicode escape", `{"type":"command","command":"\u12"}`},
		{"a non-hex unicode escape", `{"type":"command","command":"\u12g4"}`},
		{"a raw control character", "{\"type\":\"command\",\"command\":\"a\tb\"}"},
		{"a DEL character", "{\"type\":\"command\",\"command\":\"a\x7fb\"}"},
		{"an escaped control character in a room", `{"type":"message","room":"a\u0007","channel":"c","payload":{}}`},
		{"a long escaped command", `{"type":"command","command":"` + strings.Repeat(`\u00e9`, 129) + `"}`},
		{"a long plain command", `{"type":"command","command":"` + strings.Repeat("é", 129) + `"}`},
		{"depth 31 in a payload", msg(nest(`{"a":`, "1", "}", 31))},
		{"depth 32 in a payload", msg(nest(`{"a":`, "1", "}", 32))},
		{"depth 63 in a payload", msg(nest(`[`, "1", "]", 63))},
		{"depth 64 in a payload", msg(nest(`[`, "1", "]", 64))},
		{"depth 70 in a payload", msg(nest(`{"a":`, "[]", "}", 70))},
		{"depth 99 in a payload", msg(nest(`[`, "", "]", 99))},
		{"an array depth bomb", nest("[", "", "]", 10000)},
		{"an unbalanced depth bomb", strings.Repeat("[", 10000)},
		{"a depth bomb in an invalid frame", `{"a":` + strings.Repeat("[", 100) + `x`},
		{"brackets inside strings", msg(`{"s":"` + strings.Repeat("[{", 100) + `\"\\"}`)},
		{"a hundred unknown names", unknown.String()},
		{"a hundred thousand names, most of them repeated", huge.String()},
		{"many problems", `{"type":"message","id":"a b","room":7,"payload":[],"x":1,"y":2,"version":"2","timestamp":"x","sender":"","channel":"` + strings.Repeat("c", 200) + `"}`},
		{"a server-only type", `{"type":"message_response","request_id":"q","status":"success"}`},
		{"a welcome without a route", `{"type":"message","sender":"arqonbus","payload":{"client_id":"x"}}`},
		{"an unknown type", `{"type":"shout"}`},
		{"a long unknown type", `{"type":"` + strings.Repeat("é", 80) + `"}`},
		{"a bad version", `{"type":"command","command":"ping","version":"2.0"}`},
		{"timestamps with offsets", `{"type":"command","command":"ping","timestamp":"2026-03-04T07:06:07.123456+02:00"}`},
		{"a timestamp out of range", `{"type":"command","command":"ping","timestamp":"0001-01-01T00:00:00Z"}`},
		{"a timestamp of the wrong type", `{"type":"command","command":"ping","timestamp":[]}`},
		{"the legacy command shape", `{"type":"command","payload":{"command":"status","parameters":{"verbose":true}}}`},
		{"the legacy shape with null parameters", `{"type":"command","payload":{"command":"status","parameters":null}}`},
		{"the legacy shape with array parameters", `{"type":"command","payload":{"command":"status","parameters":[1]}}`},
		{"the legacy shape with a numeric command", `{"type":"command","payload":{"command":7}}`},
		{"the legacy shape with a capitalised command", `{"type":"command","payload":{"Command":"status","PARAMETERS":{}}}`},
		{"the legacy shape with duplicate commands", `{"type":"command","payload":{"command":"a","command":"b"}}`},
		{"the legacy shape next to args", `{"type":"command","payload":{"command":"status","parameters":{"a":1}},"args":{"b":2}}`},
		{"a response", `{"type":"response","request_id":"q","status":"success","error":"","error_code":"E"}`},
		{"an error", `{"type":"error","error":"boom","error_code":"` + strings.Repeat("E", 65) + `"}`},
		{"telemetry without a channel", `{"type":"telemetry","room":"r"}`},
		{"strings of every wrong kind", `{"type":"command","command":{},"status":[],"error":true,"request_id":1,"error_code":false,"room":null,"channel":{"a":1},"id":-0.5}`},
		{"objects of every wrong kind", `{"type":"command","command":"x","payload":"{}","args":[],"metadata":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, lim := range diffLimits {
				checkMatchesReference(t, []byte(tc.frame), lim)
			}
		})
	}
}

// FuzzDecodeMatchesReference checks that Decode, its envelope and its
// error, agree with decodeReference for any frame, whole and split at a
// fuzzed point. Seeds are the golden envelopes and FuzzDecode's corpus.
func FuzzDecodeMatchesReference(f *testing.F) {
	addGoldenSeeds(f)
	seeds, err := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range seeds {
		data, split := readFuzzSeed(f, file)
		f.Add(data, split)
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		for _, lim := range diffLimits {
			checkMatchesReference(t, data, lim)
		}
		cut := int(split) % (len(data) + 1)
		checkMatchesReference(t, data[:cut], DefaultLimits)
		checkMatchesReference(t, data[cut:], DefaultLimits)
		checkMatchesReference(t, data, Limits{MaxDepth: int(split % 80)})
	})
}

// readFuzzSeed reads a "go test fuzz v1" file holding a []byte and a uint16.
func readFuzzSeed(tb testing.TB, path string) ([]byte, uint16) {
	tb.Helper()
	file, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		tb.Fatalf("%s: not a two-value fuzz seed", path)
	}
	data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	split, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(lines[2], "uint16("), ")"), 0, 16)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return []byte(data), uint16(split)
}

func TestDecodedObjectsDoNotOverlap(t *testing.T) {
	env, err := Decode([]byte(`{"type":"command","command":"x","payload":{"a":1},"args":{"b":2},"metadata":{"c":3}}`), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one field must not write into the next one.
	_ = append(env.Payload, "xxxxxxxx"...)
	_ = append(env.Args, "xxxxxxxx"...)
	if string(env.Args) != `{"b":2}` || string(env.Metadata) != `{"c":3}` {
		t.Fatalf("fields overlap: args %s, metadata %s", env.Args, env.Metadata)
	}
}
