package protocol

import (
	"bytes"
	"encoding/json"
	"slices"
)

// member is one top-level name of a frame and its value. raw holds exactly
// the bytes encoding/json would store in a json.RawMessage: the value
// without the space around it.
type member struct {
	key   []byte // the name, unescaped
	raw   []byte
	seq   int      // position in the frame, so that the last duplicate wins
	field fieldKey // set by own
	plain bool     // raw is a string without escapes and text is its value
	text  string
}

// splitObject splits a frame that is one JSON object into its members,
// appended to ms. It reports false unless data is valid JSON, an object, and
// nested at most maxDepth levels; Decode then lets encoding/json produce the
// error. For every frame it accepts, the members are exactly the entries
// json.Unmarshal would put into a map[string]json.RawMessage, in frame
// order and before duplicates are resolved. It allocates only for names
// with escapes and when ms fills up. UTF-8 is checked by the caller.
func splitObject(data []byte, maxDepth int, ms []member) ([]member, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' || maxDepth < 1 {
		return ms, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return ms, skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return ms, false
		}
		end, escaped, ok := scanString(data, i)
		if !ok {
			return ms, false
		}
		key := data[i+1 : end-1]
		if escaped {
			// Names with escapes are rare; encoding/json unescapes them
			// (replacing invalid surrogates) exactly as for a map key.
			var s string
			if json.Unmarshal(data[i:end], &s) != nil {
				return ms, false
			}
			key = []byte(s)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return ms, false
		}
		start := skipSpace(data, i+1)
		// The object itself is one level, so a value may nest maxDepth-1.
		if i, ok = skipValue(data, start, maxDepth-1); !ok {
			return ms, false
		}
		ms = append(ms, member{key: key, raw: data[start:i], seq: len(ms)})
		i = skipSpace(data, i)
		if i >= len(data) {
			return ms, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return ms, skipSpace(data, i+1) == len(data)
		default:
			return ms, false
		}
	}
}

// lastWins sorts members by name and keeps the last occurrence of each name,
// as decoding into a map does.
func lastWins(ms []member) []member {
	slices.SortFunc(ms, func(a, b member) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	out := ms[:0]
	for i := range ms {
		if i+1 < len(ms) && bytes.Equal(ms[i].key, ms[i+1].key) {
			continue
		}
		out = append(out, ms[i])
	}
	return out
}

// maxSkipNesting bounds the containers skipValue tracks (one bit each); a
// value nested deeper takes the encoding/json path.
const maxSkipNesting = 64

// skipValue returns the end of the JSON value that starts at data[i]. It
// reports false if the value is not valid JSON or opens more than budget
// nested objects and arrays.
func skipValue(data []byte, i, budget int) (int, bool) {
	var objects uint64 // bit n is set when open container n is an object
	open := 0
	ok := true
	for {
		// data[i] starts a value.
		if i >= len(data) {
			return i, false
		}
		switch c := data[i]; c {
		case '{', '[':
			if open >= budget || open == maxSkipNesting {
				return i, false
			}
			if c == '{' {
				objects |= 1 << open
			} else {
				objects &^= 1 << open
			}
			open++
			i = skipSpace(data, i+1)
			if i < len(data) && (c == '{' && data[i] == '}' || c == '[' && data[i] == ']') {
				i++
				open--
				break // an empty container is a complete value
			}
			if c == '{' {
				if i, ok = scanKey(data, i); !ok {
					return i, false
				}
			}
			continue
		case '"':
			if i, _, ok = scanString(data, i); !ok {
				return i, false
			}
		case 't':
			if i, ok = scanLiteral(data, i, "true"); !ok {
				return i, false
			}
		case 'f':
			if i, ok = scanLiteral(data, i, "false"); !ok {
				return i, false
			}
		case 'n':
			if i, ok = scanLiteral(data, i, "null"); !ok {
				return i, false
			}
		default:
			if i, ok = scanNumber(data, i); !ok {
				return i, false
			}
		}
		// A value ended just before data[i]: close containers until the
		// next value starts or the outermost value is complete.
		for {
			if open == 0 {
				return i, true
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, false
			}
			inObject := objects&(1<<(open-1)) != 0
			if data[i] == ',' {
				i = skipSpace(data, i+1)
				if inObject {
					if i, ok = scanKey(data, i); !ok {
						return i, false
					}
				}
				break
			}
			if inObject && data[i] == '}' || !inObject && data[i] == ']' {
				i++
				open--
				continue
			}
			return i, false
		}
	}
}

// scanKey reads `"name" :` and the space after it, returning the index of
// the value.
func scanKey(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	i, _, ok := scanString(data, i)
	if !ok {
		return i, false
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, false
	}
	return skipSpace(data, i+1), true
}

// scanString returns the end of the string that starts at data[i] (a quote)
// and whether it holds escapes.
func scanString(data []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c == '\\':
			escaped = true
			j++
			if j >= len(data) {
				return j, false, false
			}
			switch data[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(data) {
					return j, false, false
				}
				for _, h := range data[j+1 : j+5] {
					if !isHex(h) {
						return j, false, false
					}
				}
				j += 4
			default:
				return j, false, false
			}
		case c < 0x20:
			return j, false, false
		}
	}
	return len(data), false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func scanLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// scanNumber returns the end of the number that starts at data[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return i, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		if i+1 >= len(data) || !isDigit(data[i+1]) {
			return i, false
		}
		i = skipDigits(data, i+1)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return i, false
		}
		i = skipDigits(data, i)
	}
	return i, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipDigits(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}

// skipSpace skips JSON whitespace, which is narrower than unicode.IsSpace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// PeekID returns the id of a frame that will not be handled (over a rate
// limit, or failed), so its error reply can still name it: the string
// value of its top-level "id" member when that is a valid id, else "". A
// repeated name counts its last value, as a decoder would. It scans the
// frame once without building it, however large the frame, and never
// fails: a frame that is not one JSON object has no id.
func PeekID(data []byte) string {
	var buf [16]member
	ms, ok := splitObject(data, maxSkipNesting, buf[:0])
	if !ok {
		return ""
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if string(ms[i].key) != "id" {
			continue
		}
		raw := ms[i].raw
		if len(raw) < 2 || raw[0] != '"' {
			return ""
		}
		var id string
		if _, escaped, _ := scanString(raw, 0); escaped {
			if json.Unmarshal(raw, &id) != nil {
				return ""
			}
		} else {
			id = string(raw[1 : len(raw)-1])
		}
		if ValidID(id) {
			return id
		}
		return ""
	}
	return ""
}
