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
	str := func(name, v string) {
		if v != "" {
			args = append(args, name, v)
		}
	}
	raw := func(name string, v json.RawMessage) {
		if len(v) > 0 {
			args = append(args, name, []byte(v))
		}
	}
	str(fID, env.ID)
	if !env.Timestamp.IsZero() {
		args = append(args, fTS, strconv.FormatInt(env.Timestamp.UnixMicro(), 10))
	}
	str(fType, env.Type)
	str(fVersion, env.Version)
	str(fRoom, env.Room)
	str(fChannel, env.Channel)
	str(fSender, env.Sender)
	str(fFromClient, env.FromClient)
	str(fToClient, env.ToClient)
	raw(fPayload, env.Payload)
	str(fCommand, env.Command)
	raw(fArgs, env.Args)
	str(fRequestID, env.RequestID)
	str(fStatus, env.Status)
	str(fError, env.Error)
	str(fErrorCode, env.ErrorCode)
	raw(fMetadata, env.Metadata)
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
