package protocol

import (
	"encoding/json"
	"strconv"
	"time"
)

// CommandTask is the command of a task delivery: the frame the server sends
// a worker of the work queue (SPEC §11.1). The worker answers with a
// response whose request_id is the task id.
const CommandTask = "op.task"

// TaskDelivery is the frame that hands a task to a worker:
// {"type":"command","id":<task id>,"command":"op.task","payload":<task>,
// "metadata":{"group":…,"attempt":n}}, sent by the server like its other
// frames (version, timestamp, sender arqonbus). body is the task object as
// submitted and is carried byte for byte; an empty body is sent as {}.
func TaskDelivery(taskID, group string, attempt int, body json.RawMessage, now time.Time) *Envelope {
	if len(body) == 0 {
		body = json.RawMessage(`{}`)
	}
	meta := make([]byte, 0, len(`{"group":"","attempt":}`)+len(group)+20)
	meta = append(meta, `{"group":`...)
	meta = AppendString(meta, group)
	meta = append(meta, `,"attempt":`...)
	meta = strconv.AppendInt(meta, int64(attempt), 10)
	meta = append(meta, '}')
	return &Envelope{
		ID:        taskID,
		Timestamp: stampTime(time.Time{}, now),
		Type:      TypeCommand,
		Version:   Version,
		Sender:    ServerSender,
		Command:   CommandTask,
		Payload:   body,
		Metadata:  meta,
	}
}

// EncodeTaskDelivery is Encode(TaskDelivery(…)) stamped with the wall
// clock: the bytes a worker's send queue takes.
func EncodeTaskDelivery(taskID, group string, attempt int, body json.RawMessage) []byte {
	return Encode(TaskDelivery(taskID, group, attempt, body, time.Now()))
}

// TaskAck is the one reply to a worker's task completion: a
// message_response whose id (and request_id, as in MessageAck) is the
// worker's frame id, status success, payload {"task_id":…,"state":…} with
// the task's final state (done or failed).
func TaskAck(frameID, taskID, state string, now time.Time) *Envelope {
	payload := make([]byte, 0, len(`{"task_id":"","state":""}`)+len(taskID)+len(state))
	payload = append(payload, `{"task_id":`...)
	payload = AppendString(payload, taskID)
	payload = append(payload, `,"state":`...)
	payload = AppendString(payload, state)
	payload = append(payload, '}')
	return &Envelope{
		ID:        stampID(frameID),
		Timestamp: stampTime(time.Time{}, now),
		Type:      TypeMessageResponse,
		Version:   Version,
		Sender:    ServerSender,
		Status:    StatusSuccess,
		RequestID: frameID,
		Payload:   payload,
	}
}

// CommandReplyData is CommandReply with data already encoded: a JSON
// object carried byte for byte (CommandReply re-encodes its data, which
// compacts and escapes raw values such as a worker's result).
func CommandReplyData(requestID, message string, data json.RawMessage, now time.Time) *Envelope {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	payload := make([]byte, 0, len(`{"message":,"data":}`)+len(message)+2+len(data))
	payload = append(payload, `{"message":`...)
	payload = AppendString(payload, message)
	payload = append(payload, `,"data":`...)
	payload = append(payload, data...)
	payload = append(payload, '}')
	e := &Envelope{
		Type:      TypeResponse,
		Version:   Version,
		Sender:    ServerSender,
		RequestID: requestID,
		Status:    StatusSuccess,
		Payload:   payload,
	}
	Stamp(e, now)
	return e
}
