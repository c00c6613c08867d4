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

// appendFields appends env's set fields as name, value pairs. Raw JSON goes
// as []byte: go-redis writes []byte but not named byte-slice types.
func appendFields(args []any, env *protocol.Envelope) []any {
	args = appendString(args, fID, env.ID)
	if !env.Timestamp.IsZero() {
		args = append(args, fTS, strconv.FormatInt(env.Timestamp.UnixMicro(), 10))
	}
	args = appendString(args, fType, env.Type)
	args = appendString(args, fVersion, env.Version)
	args = appendString(args, fRoom, env.Room)
	args = appendString(args, fChannel, env.Channel)
	args = appendString(args, fSender, env.Sender)
	args = appendString(args, fFromClient, env.FromClient)
	args = appendString(args, fToClient, env.ToClient)
	args = appendRaw(args, fPayload, env.Payload)
	args = appendString(args, fCommand, env.Command)
	args = appendRaw(args, fArgs, env.Args)
	args = appendString(args, fRequestID, env.RequestID)
	args = appendString(args, fStatus, env.Status)
	args = appendString(args, fError, env.Error)
	args = appendString(args, fErrorCode, env.ErrorCode)
	return appendRaw(args, fMetadata, env.Metadata)
}

func appendString(args []any, name, v string) []any {
	if v != "" {
		args = append(args, name, v)
	}
	return args
}

func appendRaw(args []any, name string, v json.RawMessage) []any {
	if len(v) > 0 {
		args = append(args, name, []byte(v))
	}
	return args
}

// setFields counts the fields appendFields writes, to size its slice.
func setFields(env *protocol.Envelope) int {
	n := 0
	if !env.Timestamp.IsZero() {
		n++
	}
	for _, v := range [...]string{env.ID, env.Type, env.Version, env.Room, env.Channel, env.Sender,
		env.FromClient, env.ToClient, env.Command, env.RequestID, env.Status, env.Error, env.ErrorCode} {
		if v != "" {
			n++
		}
	}
	for _, v := range [...]json.RawMessage{env.Payload, env.Args, env.Metadata} {
		if len(v) > 0 {
			n++
		}
	}
	return n
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
