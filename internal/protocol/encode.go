package protocol

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// TimestampLayout is the output form of every timestamp: RFC 3339, UTC, Z,
// microseconds.
const TimestampLayout = "2006-01-02T15:04:05.000000Z"

// FormatTimestamp renders t in TimestampLayout.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// Encode returns the JSON form of e, in one allocation unless strings
// need escaping.
func Encode(e *Envelope) []byte { return AppendEnvelope(make([]byte, 0, encodedSize(e)), e) }

// encodedSize is the length of e's JSON form when no string needs escaping:
// every field's value plus the most its name, quotes and separators take.
func encodedSize(e *Envelope) int {
	const perField = len(`,"request_id":""`) // the longest name, quoted, with a separator
	n := len(`{}`) + perField + len(TimestampLayout)
	for _, v := range [...]string{e.ID, e.Type, e.Version, e.Room, e.Channel, e.Sender, e.FromClient,
		e.ToClient, e.Command, e.RequestID, e.Status, e.Error, e.ErrorCode} {
		if v != "" {
			n += perField + len(v)
		}
	}
	for _, v := range [...]json.RawMessage{e.Payload, e.Args, e.Metadata} {
		if len(v) > 0 {
			n += perField + len(v)
		}
	}
	return n
}

// AppendEnvelope appends the JSON form of e to dst. Fields are written in a
// fixed order and empty fields are left out; raw object fields are copied
// byte for byte. It does not allocate beyond growing dst, which keeps the
// publish path cheap.
func AppendEnvelope(dst []byte, e *Envelope) []byte {
	w := objWriter{b: append(dst, '{')}
	w.str("id", e.ID)
	if !e.Timestamp.IsZero() {
		w.key("timestamp")
		w.b = append(w.b, '"')
		w.b = e.Timestamp.UTC().AppendFormat(w.b, TimestampLayout)
		w.b = append(w.b, '"')
	}
	w.str("type", e.Type)
	w.str("version", e.Version)
	w.str("room", e.Room)
	w.str("channel", e.Channel)
	w.str("sender", e.Sender)
	w.str("from_client", e.FromClient)
	w.str("to_client", e.ToClient)
	w.raw("payload", e.Payload)
	w.str("command", e.Command)
	w.raw("args", e.Args)
	w.str("request_id", e.RequestID)
	w.str("status", e.Status)
	w.str("error", e.Error)
	w.str("error_code", e.ErrorCode)
	w.raw("metadata", e.Metadata)
	return append(w.b, '}')
}

type objWriter struct {
	b    []byte
	more bool
}

func (w *objWriter) key(k string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *objWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = AppendString(w.b, v)
}

func (w *objWriter) raw(k string, v json.RawMessage) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, v...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Object encodes v (a map or struct) as a JSON object for a payload. It is
// for server-built replies, never the fan-out path.
func Object(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return json.RawMessage(`{}`)
	}
	return b
}
