package protocol

import (
	"encoding/json"
	"time"
)

// Version is the only envelope version this server speaks.
const Version = "1.0"

// Envelope types. TypeEvent is accepted on input as an alias of TypeMessage.
const (
	TypeMessage         = "message"
	TypeEvent           = "event"
	TypeCommand         = "command"
	TypeTelemetry       = "telemetry"
	TypeResponse        = "response"
	TypeError           = "error"
	TypeOperatorJoin    = "operator.join"
	TypeMessageResponse = "message_response"
	TypeCommandResponse = "command_response"
)

// Reply statuses.
const (
	StatusSuccess = "success"
	StatusError   = "error"
)

// ServerSender is the sender of frames the server originates (the welcome).
const ServerSender = "arqonbus"

// Envelope is one ArqonBus v1 frame. Object-valued fields are kept as raw,
// validated JSON so that payloads pass through byte for byte and are never
// re-encoded on the fan-out path. An empty string or a nil raw value means
// the field is absent.
type Envelope struct {
	ID         string
	Timestamp  time.Time
	Type       string
	Version    string
	Room       string
	Channel    string
	Sender     string
	FromClient string
	ToClient   string
	Payload    json.RawMessage
	Command    string
	Args       json.RawMessage
	RequestID  string
	Status     string
	Error      string
	ErrorCode  string
	Metadata   json.RawMessage
}

// HasRoute reports whether the envelope names a room and channel pair.
func (e *Envelope) HasRoute() bool { return e.Room != "" && e.Channel != "" }
