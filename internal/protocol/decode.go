package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits bounds what Decode accepts. The frame size itself is enforced by the
// transport before Decode runs.
type Limits struct {
	// MaxDepth bounds JSON nesting (objects and arrays), default 32.
	MaxDepth int
	// ServerFrames accepts the server-only types (message_response,
	// command_response) and server frames without a route (the welcome);
	// clients decode with it, the server never does.
	ServerFrames bool
}

// DefaultLimits are the limits of SPEC §1.
var DefaultLimits = Limits{MaxDepth: 32}

// Field length limits, in characters (SPEC §1).
const (
	MaxIDLen      = 128
	MaxNameLen    = 128 // room, channel, to_client, sender, from_client
	MaxCommandLen = 128
	MaxStatusLen  = 32
	MaxCodeLen    = 64
	MaxErrorLen   = 4096
	// maxProblems caps the problems reported for one frame, so a frame with
	// 100,000 unknown keys gets a short answer.
	maxProblems = 20
)

// Decode parses one frame into an envelope and validates it. Every problem
// found is reported in one VALIDATION_ERROR; the error never contains
// internal details. The returned envelope has its defaults applied
// (version, alias types, legacy command shape) but no server-generated id or
// timestamp: the caller assigns those (see Stamp).
func Decode(data []byte, lim Limits) (*Envelope, error) {
	if !utf8.Valid(data) {
		return nil, ValidationError("frame is not valid UTF-8")
	}
	if err := checkDepth(data, lim.MaxDepth); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, ValidationError(describeJSONError(data, err))
	}
	if fields == nil {
		return nil, ValidationError("frame must be a JSON object, got null")
	}
	d := decoder{env: &Envelope{}, serverFrames: lim.ServerFrames}
	for _, name := range sortedKeys(fields) {
		d.field(name, fields[name])
	}
	d.applyDefaults()
	if !lim.ServerFrames {
		d.checkRequired()
	}
	if len(d.problems) > 0 {
		return d.env, ValidationError(d.problems...)
	}
	return d.env, nil
}

type decoder struct {
	env          *Envelope
	serverFrames bool
	problems     []string
	dropped      int
}

func (d *decoder) problem(format string, args ...any) {
	if len(d.problems) >= maxProblems {
		d.dropped++
		if d.dropped == 1 {
			d.problems[maxProblems-1] = "more problems not shown"
		}
		return
	}
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

// field decodes one top-level field. A JSON null counts as absent, which
// keeps clients that serialise every field (None → null) working.
func (d *decoder) field(name string, raw json.RawMessage) {
	if isNull(raw) {
		return
	}
	e := d.env
	switch name {
	case "id":
		if s, ok := d.str(name, raw); ok {
			if !ValidID(s) {
				d.problem("id must be 1-%d characters of A-Z a-z 0-9 _ . : -", MaxIDLen)
			}
			e.ID = s
		}
	case "timestamp":
		if s, ok := d.str(name, raw); ok {
			t, err := ParseTimestamp(s)
			switch {
			case errors.Is(err, errTimestampRange):
				d.problem("timestamp %q is outside %s", Clip(s), timestampRange)
			case err != nil:
				d.problem("timestamp %q is not an RFC 3339 time", Clip(s))
			}
			e.Timestamp = t
		}
	case "type":
		if s, ok := d.str(name, raw); ok {
			e.Type = s
		}
	case "version":
		if s, ok := d.str(name, raw); ok {
			e.Version = s
		}
	case "room":
		e.Room = d.name(name, raw)
	case "channel":
		e.Channel = d.name(name, raw)
	case "sender":
		e.Sender = d.name(name, raw)
	case "from_client":
		e.FromClient = d.name(name, raw)
	case "to_client":
		e.ToClient = d.name(name, raw)
	case "payload":
		e.Payload = d.object(name, raw)
	case "args":
		e.Args = d.object(name, raw)
	case "metadata":
		e.Metadata = d.object(name, raw)
	case "command":
		e.Command = d.bounded(name, raw, MaxCommandLen)
	case "request_id":
		e.RequestID = d.bounded(name, raw, MaxIDLen)
	case "status":
		e.Status = d.bounded(name, raw, MaxStatusLen)
	case "error":
		e.Error = d.bounded(name, raw, MaxErrorLen)
	case "error_code":
		e.ErrorCode = d.bounded(name, raw, MaxCodeLen)
	default:
		d.problem("unknown field %q", Clip(name))
	}
}

func (d *decoder) str(name string, raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		d.problem("%s must be a string, got %s", name, jsonKind(raw))
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.problem("%s is not a valid JSON string", name)
		return "", false
	}
	return s, true
}

func (d *decoder) bounded(name string, raw json.RawMessage, max int) string {
	s, ok := d.str(name, raw)
	if !ok {
		return ""
	}
	if n := utf8.RuneCountInString(s); n > max {
		d.problem("%s is %d characters long, at most %d allowed", name, n, max)
	}
	return s
}

func (d *decoder) name(field string, raw json.RawMessage) string {
	s, ok := d.str(field, raw)
	if !ok {
		return ""
	}
	if msg := checkName(s); msg != "" {
		d.problem("%s %s", field, msg)
	}
	return s
}

func (d *decoder) object(name string, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] != '{' {
		d.problem("%s must be a JSON object, got %s", name, jsonKind(raw))
		return nil
	}
	return raw
}

// applyDefaults fills the version, resolves type aliases and reads the legacy
// command shape {"type":"command","payload":{"command":…,"parameters":{…}}}.
func (d *decoder) applyDefaults() {
	e := d.env
	if e.Version == "" {
		e.Version = Version
	} else if e.Version != Version {
		d.problem("version %q is not supported, only %q", Clip(e.Version), Version)
	}
	switch e.Type {
	case TypeEvent:
		e.Type = TypeMessage
	case TypeMessage, TypeCommand, TypeTelemetry, TypeResponse, TypeError, TypeOperatorJoin:
	case "":
		d.problem("type is required")
	case TypeMessageResponse, TypeCommandResponse:
		if !d.serverFrames {
			d.problem("type %q is sent by servers only", e.Type)
		}
	default:
		d.problem("type %q is not one of message, event, command, telemetry, response, error, operator.join", Clip(e.Type))
	}
	if e.Type == TypeCommand && e.Command == "" && e.Payload != nil {
		d.legacyCommand()
	}
}

func (d *decoder) legacyCommand() {
	var legacy struct {
		Command    *json.RawMessage `json:"command"`
		Parameters *json.RawMessage `json:"parameters"`
	}
	if json.Unmarshal(d.env.Payload, &legacy) != nil || legacy.Command == nil {
		return
	}
	d.env.Command = d.bounded("payload.command", *legacy.Command, MaxCommandLen)
	if legacy.Parameters != nil && !isNull(*legacy.Parameters) {
		d.env.Args = d.object("payload.parameters", *legacy.Parameters)
	}
}

func (d *decoder) checkRequired() {
	e := d.env
	switch e.Type {
	case TypeMessage:
		if e.Payload == nil {
			d.problem("payload is required for type message")
		}
		d.checkRoute(true)
	case TypeTelemetry:
		d.checkRoute(false)
	case TypeCommand:
		if e.Command == "" {
			d.problem("command is required for type command")
		}
	case TypeResponse:
		if e.RequestID == "" {
			d.problem("request_id is required for type response")
		}
		if e.Status == "" {
			d.problem("status is required for type response")
		}
	case TypeError:
		if e.Error == "" {
			d.problem("error is required for type error")
		}
	case TypeOperatorJoin:
		if e.Payload == nil {
			d.problem("payload is required for type operator.join")
		}
	}
}

// checkRoute requires a room and channel together, or (for messages) a
// to_client.
func (d *decoder) checkRoute(required bool) {
	e := d.env
	switch {
	case e.Room != "" && e.Channel == "":
		d.problem("channel is required with room")
	case e.Channel != "" && e.Room == "":
		d.problem("room is required with channel")
	case required && e.Room == "" && e.ToClient == "":
		d.problem("room and channel, or to_client, are required for type message")
	}
}

// ValidID reports whether s is a valid client-supplied id: 1-128 characters
// of [A-Za-z0-9_.:-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '.' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckName validates a room, channel or client name: 1-128 characters and no
// control characters. It returns "" when the name is valid, otherwise the
// problem ("must not be empty", …) to prefix with the field name.
func CheckName(s string) string { return checkName(s) }

func checkName(s string) string {
	if s == "" {
		return "must not be empty"
	}
	n := 0
	for _, r := range s {
		n++
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	if n > MaxNameLen {
		return fmt.Sprintf("is %d characters long, at most %d allowed", n, MaxNameLen)
	}
	return ""
}

// timestamp layouts accepted on input, most common first. Offset-less times
// are taken as UTC.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// Timestamps must lie in the range every output and store can represent:
// RFC 3339 has four-digit years, and stream ids count milliseconds since the
// Unix epoch. The range also keeps Go's zero time (which means "absent") out
// of client input.
var (
	minTimestamp = time.Unix(0, 0).UTC()
	maxTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

const timestampRange = "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z (UTC)"

var errTimestampRange = errors.New("timestamp out of range")

// ParseTimestamp reads an RFC 3339 time with Z, an offset, or no offset (UTC),
// truncated to microseconds, within 1970..9999 UTC.
func ParseTimestamp(s string) (time.Time, error) {
	var err error
	for _, layout := range timestampLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			t = t.UTC().Truncate(time.Microsecond)
			if t.Before(minTimestamp) || t.After(maxTimestamp) {
				return time.Time{}, errTimestampRange
			}
			return t, nil
		}
	}
	return time.Time{}, err
}

// checkDepth rejects nesting deeper than max before any allocation happens,
// so a depth bomb costs one linear scan.
func checkDepth(data []byte, max int) error {
	if max <= 0 {
		max = DefaultLimits.MaxDepth
	}
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return ValidationError(fmt.Sprintf("JSON nesting deeper than %d levels", max))
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// describeJSONError turns a json error into a problem without Go type names.
func describeJSONError(data []byte, err error) string {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return "frame is empty"
	}
	switch trimmed[0] {
	case '[':
		return "frame must be a JSON object, got array"
	case '"':
		return "frame must be a JSON object, got string"
	case 't', 'f':
		if json.Valid(trimmed) {
			return "frame must be a JSON object, got boolean"
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if json.Valid(trimmed) {
			return "frame must be a JSON object, got number"
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	return "malformed JSON"
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func isNull(raw json.RawMessage) bool { return len(raw) == 4 && string(raw) == "null" }

// Clip shortens user input echoed back to a client (at most 64 bytes, cut
// on a rune boundary, invalid UTF-8 replaced).
func Clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strings.ToValidUTF8(s, "?")
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
