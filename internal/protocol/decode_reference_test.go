package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// decodeReference is the straightforward decoder Decode must agree with:
// encoding/json into a map, keys in sorted order, strings through
// json.Unmarshal, and a known field given twice refused by counting every
// name in the frame. FuzzDecodeMatchesReference compares the two.
func decodeReference(data []byte, lim Limits) (*Envelope, error) {
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
	d := refDecoder{env: &Envelope{}, serverFrames: lim.ServerFrames, counts: refNameCounts(data)}
	for _, name := range refSortedKeys(fields) {
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

// refNameCounts counts every top-level name of a frame json.Unmarshal
// accepted as an object.
func refNameCounts(data []byte) map[string]int {
	counts := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		panic(err)
	}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			panic(err)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			panic(err)
		}
		counts[name.(string)]++
	}
	return counts
}

func refSortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type refDecoder struct {
	env          *Envelope
	serverFrames bool
	counts       map[string]int
	problems     []string
	dropped      int
}

func (d *refDecoder) problem(format string, args ...any) {
	if len(d.problems) >= maxProblems {
		d.dropped++
		if d.dropped == 1 {
			d.problems[maxProblems-1] = "more problems not shown"
		}
		return
	}
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

func (d *refDecoder) field(name string, raw json.RawMessage) {
	if d.counts[name] > 1 && lookupField([]byte(name)) != fieldUnknown {
		d.problem("duplicate field %q", name)
	}
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

func (d *refDecoder) str(name string, raw json.RawMessage) (string, bool) {
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

func (d *refDecoder) bounded(name string, raw json.RawMessage, max int) string {
	s, ok := d.str(name, raw)
	if !ok {
		return ""
	}
	if n := utf8.RuneCountInString(s); n > max {
		d.problem("%s is %d characters long, at most %d allowed", name, n, max)
	}
	return s
}

func (d *refDecoder) name(field string, raw json.RawMessage) string {
	s, ok := d.str(field, raw)
	if !ok {
		return ""
	}
	if msg := checkName(s); msg != "" {
		d.problem("%s %s", field, msg)
	}
	return s
}

func (d *refDecoder) object(name string, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] != '{' {
		d.problem("%s must be a JSON object, got %s", name, jsonKind(raw))
		return nil
	}
	return raw
}

func (d *refDecoder) applyDefaults() {
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

func (d *refDecoder) legacyCommand() {
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

func (d *refDecoder) checkRequired() {
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

func (d *refDecoder) checkRoute(required bool) {
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
