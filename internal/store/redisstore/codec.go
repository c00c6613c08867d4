package redisstore

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Stream entry field names. Each envelope field is stored on its own, and
// only when set, so one damaged field never costs the whole entry. They are
// the wire names, except ts: unix microseconds, exact and compact.
const (
	fID         = "id"
	fTS         = "ts"
	fType       = "type"
	fVersion    = "version"
	fRoom       = "room"
	fChannel    = "channel"
	fSender     = "sender"
	fFromClient = "from_client"
	fToClient   = "to_client"
	fPayload    = "payload"
	fCommand    = "command"
	fArgs       = "args"
	fRequestID  = "request_id"
	fStatus     = "status"
	fError      = "error"
	fErrorCode  = "error_code"
	fMetadata   = "metadata"
)

// entryField is one stream entry field: a string, or raw JSON. The name
// is held as an interface made from a constant, so passing it to go-redis
// allocates nothing.
type entryField struct {
	name any
	str  string
	raw  json.RawMessage
}

func (f *entryField) set() bool { return f.str != "" || len(f.raw) > 0 }

// entryFields lists env's fields in the order they are stored; unset ones
// are empty.
func entryFields(env *protocol.Envelope) [17]entryField {
	var ts string
	if !env.Timestamp.IsZero() {
		ts = strconv.FormatInt(env.Timestamp.UnixMicro(), 10)
	}
	return [...]entryField{
		{name: fID, str: env.ID},
		{name: fTS, str: ts},
		{name: fType, str: env.Type},
		{name: fVersion, str: env.Version},
		{name: fRoom, str: env.Room},
		{name: fChannel, str: env.Channel},
		{name: fSender, str: env.Sender},
		{name: fFromClient, str: env.FromClient},
		{name: fToClient, str: env.ToClient},
		{name: fPayload, raw: env.Payload},
		{name: fCommand, str: env.Command},
		{name: fArgs, raw: env.Args},
		{name: fRequestID, str: env.RequestID},
		{name: fStatus, str: env.Status},
		{name: fError, str: env.Error},
		{name: fErrorCode, str: env.ErrorCode},
		{name: fMetadata, raw: env.Metadata},
	}
}

// entryArgs returns head followed by env's set fields as name, value pairs,
// in a slice of exactly that size. Raw JSON goes as []byte: go-redis writes
// []byte but not named byte-slice types.
func entryArgs(env *protocol.Envelope, head ...any) []any {
	fields := entryFields(env)
	n := 0
	for i := range fields {
		if fields[i].set() {
			n++
		}
	}
	args := append(make([]any, 0, len(head)+2*n), head...)
	for i := range fields {
		switch f := &fields[i]; {
		case len(f.raw) > 0:
			args = append(args, f.name, []byte(f.raw))
		case f.str != "":
			args = append(args, f.name, f.str)
		}
	}
	return args
}

// decodeFields fills an envelope from stored fields. A field that cannot be
// decoded is left empty and reported through bad(field); unknown fields
// (written by a newer version) are ignored.
func decodeFields(values map[string]any, bad func(field string)) protocol.Envelope {
	var env protocol.Envelope
	for name, v := range values {
		s, ok := v.(string)
		if !ok {
			bad(name)
			continue
		}
		switch name {
		case fID:
			env.ID = s
		case fTS:
			us, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				bad(name)
				continue
			}
			env.Timestamp = time.UnixMicro(us).UTC()
		case fType:
			env.Type = s
		case fVersion:
			env.Version = s
		case fRoom:
			env.Room = s
		case fChannel:
			env.Channel = s
		case fSender:
			env.Sender = s
		case fFromClient:
			env.FromClient = s
		case fToClient:
			env.ToClient = s
		case fPayload, fArgs, fMetadata:
			obj, ok := rawObject(s)
			if !ok {
				bad(name)
				continue
			}
			switch name {
			case fPayload:
				env.Payload = obj
			case fArgs:
				env.Args = obj
			default:
				env.Metadata = obj
			}
		case fCommand:
			env.Command = s
		case fRequestID:
			env.RequestID = s
		case fStatus:
			env.Status = s
		case fError:
			env.Error = s
		case fErrorCode:
			env.ErrorCode = s
		}
	}
	return env
}

// rawObject returns s as raw JSON when it is a valid JSON object: anything
// else would corrupt the frame it is later spliced into.
func rawObject(s string) (json.RawMessage, bool) {
	b := []byte(s)
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	return b, true
}
