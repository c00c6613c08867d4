package protocol

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Welcome is the first frame a client receives after the upgrade.
func Welcome(clientID string, now time.Time) *Envelope {
	e := &Envelope{
		Type:    TypeMessage,
		Version: Version,
		Sender:  ServerSender,
		Payload: Object(map[string]string{"welcome": "Connected to ArqonBus", "client_id": clientID}),
	}
	Stamp(e, now)
	return e
}

// MessageAck is the one message_response a sender gets for a message.
func MessageAck(id string, delivered int, persisted bool, now time.Time) *Envelope {
	e := messageAck(make([]byte, 0, maxAckPayload), id, delivered, persisted, now)
	return &e
}

// EncodeMessageAck is Encode(MessageAck(…)) in one allocation: the ack is
// built on the stack, which matters because every message gets one.
func EncodeMessageAck(id string, delivered int, persisted bool, now time.Time) []byte {
	var payload [maxAckPayload]byte
	e := messageAck(payload[:0], id, delivered, persisted, now)
	return Encode(&e)
}

// maxAckPayload fits {"delivered":<any int>,"persisted":false}.
const maxAckPayload = 56

// messageAck returns the ack by value, its payload appended to payload, so
// that a caller can keep both on its stack.
func messageAck(payload []byte, id string, delivered int, persisted bool, now time.Time) Envelope {
	payload = append(payload, `{"delivered":`...)
	payload = strconv.AppendInt(payload, int64(delivered), 10)
	payload = append(payload, `,"persisted":`...)
	payload = strconv.AppendBool(payload, persisted)
	payload = append(payload, '}')
	return Envelope{
		ID:        stampID(id),
		Timestamp: stampTime(time.Time{}, now),
		Type:      TypeMessageResponse,
		Version:   Version,
		Sender:    ServerSender,
		Status:    StatusSuccess,
		RequestID: id,
		Payload:   payload,
	}
}

// CommandReply is the one response a command gets. data may be nil.
func CommandReply(requestID string, message string, data any, now time.Time) *Envelope {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{message, data}
	if body.Data == nil {
		body.Data = struct{}{}
	}
	e := &Envelope{
		Type:      TypeResponse,
		Version:   Version,
		Sender:    ServerSender,
		RequestID: requestID,
		Status:    StatusSuccess,
		Payload:   Object(body),
	}
	Stamp(e, now)
	return e
}

// CommandError is the one response a failed command gets: the command
// reply's payload shape ({message, data, errors}) with the error fields set.
func CommandError(requestID string, err *Error, now time.Time) *Envelope {
	return failure(TypeResponse, requestID, err, map[string]any{
		"message": err.Message, "data": struct{}{}, "errors": problems(err),
	}, now)
}

// ErrorReply is the error envelope for a frame that failed before or outside
// command handling (validation, rate limits, storage).
func ErrorReply(requestID string, err *Error, now time.Time) *Envelope {
	e := failure(TypeError, requestID, err, nil, now)
	e.Payload = errorPayload(err)
	return e
}

// errorPayload encodes ErrorReply's payload, {code, errors, message}, in
// the key order encoding/json gives a map, without reflection: refusals
// (rate limits above all) are answered at the rate a flooding client
// sends them.
func errorPayload(err *Error) json.RawMessage {
	n := 40 + len(err.Code) + len(err.Message)
	for _, p := range err.Problems {
		n += len(p) + 3
	}
	b := append(make([]byte, 0, n), `{"code":`...)
	b = AppendString(b, string(err.Code))
	b = append(b, `,"errors":[`...)
	for i, p := range err.Problems {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, p)
	}
	b = append(b, `],"message":`...)
	b = AppendString(b, err.Message)
	return append(b, '}')
}

func failure(typ, requestID string, err *Error, payload map[string]any, now time.Time) *Envelope {
	e := &Envelope{
		Type:      typ,
		Version:   Version,
		Sender:    ServerSender,
		RequestID: requestID,
		Status:    StatusError,
		Error:     errorText(err),
		ErrorCode: string(err.Code),
	}
	if payload != nil {
		e.Payload = Object(payload)
	}
	Stamp(e, now)
	return e
}

// errorText is the error field: the message and, for validation errors, the
// problems, so a client that prints only `error` still learns what to fix.
func errorText(err *Error) string {
	if len(err.Problems) == 0 {
		return err.Message
	}
	return err.Message + ": " + strings.Join(err.Problems, "; ")
}

func problems(err *Error) []string {
	if err.Problems == nil {
		return []string{}
	}
	return err.Problems
}
