package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
// timestamp: the caller assigns those (see Stamp). A known field given more
// than once is refused ("duplicate field"), so no reader of the frame can
// pick another value than the one Decode saw. The envelope shares no memory
// with data, so the caller may reuse its buffer.
func Decode(data []byte, lim Limits) (*Envelope, error) {
	// Frames are split by hand because this runs once per received frame;
	// anything the splitter does not accept goes through encoding/json,
	// which yields the same members or the error to report.
	maxDepth := lim.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultLimits.MaxDepth
	}
	var stack [16]member
	ms, ok := stack[:0], false
	if utf8.Valid(data) {
		ms, ok = splitObject(data, maxDepth, ms)
	}
	var dup fieldSet
	if ok {
		dup = classify(ms)
		ms = lastWins(ms)
	} else {
		var err error
		if ms, dup, err = membersOf(data, lim, stack[:0]); err != nil {
			return nil, err
		}
	}
	own(ms)
	d := decoder{env: &Envelope{}, serverFrames: lim.ServerFrames, dup: dup}
	for i := range ms {
		d.field(&ms[i])
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

// membersOf is the general path: it checks the frame, decodes it with
// encoding/json and returns its members sorted by name with the known
// fields given more than once, or the error that describes the frame.
func membersOf(data []byte, lim Limits, ms []member) ([]member, fieldSet, error) {
	if !utf8.Valid(data) {
		return nil, 0, ValidationError("frame is not valid UTF-8")
	}
	if err := checkDepth(data, lim.MaxDepth); err != nil {
		return nil, 0, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, 0, ValidationError(describeJSONError(data, err))
	}
	if fields == nil {
		return nil, 0, ValidationError("frame must be a JSON object, got null")
	}
	// A map keeps one value per name; walk the frame again to see every
	// member in order, duplicates included. The frame is known valid.
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, 0, ValidationError(describeJSONError(data, err))
	}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, 0, ValidationError(describeJSONError(data, err))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, ValidationError(describeJSONError(data, err))
		}
		ms = append(ms, member{key: []byte(key), raw: raw, seq: len(ms)})
	}
	dup := classify(ms)
	return lastWins(ms), dup, nil
}

// fieldSet holds one bit per fieldKey.
type fieldSet uint32

// Every fieldKey must fit in a fieldSet: this fails to compile once the last
// one, fieldErrorCode, passes 31.
var _ [31 - fieldErrorCode]struct{}

func (s fieldSet) has(f fieldKey) bool { return s&(1<<f) != 0 }

// classify sets each member's field and returns the known fields that occur
// more than once. Members must be in frame order. A bit set rather than a
// map keeps this free of allocation; unknown names are refused one by one
// anyway, so their repeats need no tracking.
func classify(ms []member) fieldSet {
	var seen, dup fieldSet
	for i := range ms {
		f := lookupField(ms[i].key)
		ms[i].field = f
		if f == fieldUnknown {
			continue
		}
		bit := fieldSet(1) << f
		dup |= seen & bit
		seen |= bit
	}
	return dup
}

// fieldKey names a known top-level field, so each name is matched once.
type fieldKey uint8

const (
	fieldUnknown fieldKey = iota
	fieldID
	fieldTimestamp
	fieldType
	fieldVersion
	fieldRoom
	fieldChannel
	fieldSender
	fieldFromClient
	fieldToClient
	fieldPayload
	fieldArgs
	fieldMetadata
	fieldCommand
	fieldRequestID
	fieldStatus
	fieldError
	fieldErrorCode
)

func lookupField(name []byte) fieldKey {
	switch string(name) {
	case "id":
		return fieldID
	case "timestamp":
		return fieldTimestamp
	case "type":
		return fieldType
	case "version":
		return fieldVersion
	case "room":
		return fieldRoom
	case "channel":
		return fieldChannel
	case "sender":
		return fieldSender
	case "from_client":
		return fieldFromClient
	case "to_client":
		return fieldToClient
	case "payload":
		return fieldPayload
	case "args":
		return fieldArgs
	case "metadata":
		return fieldMetadata
	case "command":
		return fieldCommand
	case "request_id":
		return fieldRequestID
	case "status":
		return fieldStatus
	case "error":
		return fieldError
	case "error_code":
		return fieldErrorCode
	}
	return fieldUnknown
}

func (f fieldKey) isObject() bool {
	return f == fieldPayload || f == fieldArgs || f == fieldMetadata
}

// own gives the values the envelope keeps, of members classify has seen, their
// own memory: all plain strings share one allocation and all objects
// another, so the envelope neither aliases the caller's buffer nor pins
// more of it than it uses.
func own(ms []member) {
	nText, nObject := 0, 0
	for i := range ms {
		m := &ms[i]
		switch {
		case m.field == fieldUnknown:
		case m.field.isObject():
			if len(m.raw) > 0 && m.raw[0] == '{' {
				nObject += len(m.raw)
			}
		case len(m.raw) >= 2 && m.raw[0] == '"' && bytes.IndexByte(m.raw, '\\') < 0:
			// Without escapes, a valid UTF-8 JSON string is its own value.
			m.plain = true
			nText += len(m.raw) - 2
		}
	}
	if nText > 0 {
		var b strings.Builder
		b.Grow(nText)
		for i := range ms {
			if ms[i].plain {
				b.Write(ms[i].raw[1 : len(ms[i].raw)-1])
			}
		}
		text, at := b.String(), 0
		for i := range ms {
			if m := &ms[i]; m.plain {
				n := len(m.raw) - 2
				m.text, at = text[at:at+n], at+n
			}
		}
	}
	if nObject > 0 {
		buf := make([]byte, 0, nObject)
		for i := range ms {
			if m := &ms[i]; m.field.isObject() && len(m.raw) > 0 && m.raw[0] == '{' {
				at := len(buf)
				buf = append(buf, m.raw...)
				// Capped, so appending to one field cannot overwrite the next.
				m.raw = buf[at:len(buf):len(buf)]
			}
		}
	}
}

type decoder struct {
	env          *Envelope
	serverFrames bool
	dup          fieldSet // known fields the frame gives more than once
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
// keeps clients that serialise every field (None → null) working. A field
// given more than once is a problem, whatever its values: the frame is
// refused, so which value the envelope holds never matters.
func (d *decoder) field(m *member) {
	if d.dup.has(m.field) {
		d.problem("duplicate field %q", m.key)
	}
	if isNull(m.raw) {
		return
	}
	e := d.env
	switch m.field {
	case fieldID:
		if s, ok := d.str("id", m); ok {
			if !ValidID(s) {
				d.problem("id must be 1-%d characters of A-Z a-z 0-9 _ . : -", MaxIDLen)
			}
			e.ID = s
		}
	case fieldTimestamp:
		if s, ok := d.str("timestamp", m); ok {
			t, err := ParseTimestamp(s)
			switch {
			case errors.Is(err, errTimestampRange):
				d.problem("timestamp %q is outside %s", Clip(s), timestampRange)
			case err != nil:
				d.problem("timestamp %q is not an RFC 3339 time", Clip(s))
			}
			e.Timestamp = t
		}
	case fieldType:
		if s, ok := d.str("type", m); ok {
			e.Type = s
		}
	case fieldVersion:
		if s, ok := d.str("version", m); ok {
			e.Version = s
		}
	case fieldRoom:
		e.Room = d.name("room", m)
	case fieldChannel:
		e.Channel = d.name("channel", m)
	case fieldSender:
		e.Sender = d.name("sender", m)
	case fieldFromClient:
		e.FromClient = d.name("from_client", m)
	case fieldToClient:
		e.ToClient = d.name("to_client", m)
	case fieldPayload:
		e.Payload = d.object("payload", m.raw)
	case fieldArgs:
		e.Args = d.object("args", m.raw)
	case fieldMetadata:
		e.Metadata = d.object("metadata", m.raw)
	case fieldCommand:
		e.Command = d.bounded("command", m, MaxCommandLen)
	case fieldRequestID:
		e.RequestID = d.bounded("request_id", m, MaxIDLen)
	case fieldStatus:
		e.Status = d.bounded("status", m, MaxStatusLen)
	case fieldError:
		e.Error = d.bounded("error", m, MaxErrorLen)
	case fieldErrorCode:
		e.ErrorCode = d.bounded("error_code", m, MaxCodeLen)
	default:
		d.problem("unknown field %q", Clip(string(m.key)))
	}
}

func (d *decoder) str(name string, m *member) (string, bool) {
	if m.plain {
		return m.text, true
	}
	raw := m.raw
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

func (d *decoder) bounded(name string, m *member, max int) string {
	s, ok := d.str(name, m)
	if !ok {
		return ""
	}
	if n := utf8.RuneCountInString(s); n > max {
		d.problem("%s is %d characters long, at most %d allowed", name, n, max)
	}
	return s
}

func (d *decoder) name(field string, m *member) string {
	s, ok := d.str(field, m)
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
	d.env.Command = d.bounded("payload.command", &member{raw: *legacy.Command}, MaxCommandLen)
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
