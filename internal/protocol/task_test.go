package protocol_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

const taskID = "task_0123456789abcdef0123456789abcdef"

func TestATaskDeliveryDecodesAsTheDocumentedCommand(t *testing.T) {
	body := json.RawMessage(`{"claim": "the sky is blue" ,"n":[1, 2]}`)
	frame := protocol.EncodeTaskDelivery(taskID, "truth_workers", 3, body)
	// A worker decodes it like any server frame; a client library that
	// decodes with the server's own rules must accept it too.
	for _, lim := range []protocol.Limits{protocol.DefaultLimits, {MaxDepth: 32, ServerFrames: true}} {
		env, err := protocol.Decode(frame, lim)
		require.NoError(t, err, "%s", frame)
		assert.Equal(t, protocol.TypeCommand, env.Type)
		assert.Equal(t, taskID, env.ID)
		assert.Equal(t, protocol.CommandTask, env.Command)
		assert.Equal(t, "op.task", env.Command)
		assert.Equal(t, string(body), string(env.Payload), "the task is carried byte for byte")
		assert.JSONEq(t, `{"group":"truth_workers","attempt":3}`, string(env.Metadata))
		assert.Equal(t, protocol.ServerSender, env.Sender)
		assert.Equal(t, protocol.Version, env.Version)
		assert.WithinDuration(t, time.Now(), env.Timestamp, time.Minute)
		assert.Empty(t, env.RequestID)
	}
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(frame, &top))
	assert.ElementsMatch(t, []string{"id", "timestamp", "type", "version", "sender", "command", "payload", "metadata"},
		keys(top), "no other field is sent")
}

func TestATaskDeliveryStampsTheGivenTimeAndEscapesTheGroup(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.FixedZone("x", 3600))
	env := protocol.TaskDelivery(taskID, `g"\`, 1, nil, now)
	assert.Equal(t, `{}`, string(env.Payload), "an empty body is sent as an empty object")
	got, err := protocol.Decode(protocol.Encode(env), protocol.DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, now.UTC().Truncate(time.Microsecond), got.Timestamp)
	var meta struct {
		Group   string `json:"group"`
		Attempt int    `json:"attempt"`
	}
	require.NoError(t, json.Unmarshal(got.Metadata, &meta))
	assert.Equal(t, `g"\`, meta.Group)
	assert.Equal(t, 1, meta.Attempt)
}

func TestATaskAckIsAMessageResponseNamingTheTaskAndItsState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, state := range []string{"done", "failed"} {
		frame := protocol.Encode(protocol.TaskAck("w-frame-7", taskID, state, now))
		env, err := protocol.Decode(frame, protocol.Limits{MaxDepth: 32, ServerFrames: true})
		require.NoError(t, err, "%s", frame)
		assert.Equal(t, protocol.TypeMessageResponse, env.Type)
		assert.Equal(t, "w-frame-7", env.ID, "the id is the worker's frame id")
		assert.Equal(t, "w-frame-7", env.RequestID)
		assert.Equal(t, protocol.StatusSuccess, env.Status)
		assert.Equal(t, protocol.ServerSender, env.Sender)
		assert.Equal(t, now, env.Timestamp)
		assert.JSONEq(t, `{"task_id":"`+taskID+`","state":"`+state+`"}`, string(env.Payload))
	}
}

func TestATaskAckForAFrameWithoutAnIDGetsAServerID(t *testing.T) {
	env := protocol.TaskAck("", taskID, "done", time.Now())
	assert.True(t, protocol.ValidID(env.ID), "id %q", env.ID)
	assert.Empty(t, env.RequestID)
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestACommandReplyWithEncodedDataCarriesItByteForByte(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data := `{"result": {"a" : "<b>&"} }`
	frame := protocol.Encode(protocol.CommandReplyData("req-9", `done "x"`, json.RawMessage(data), now))
	env, err := protocol.Decode(frame, protocol.DefaultLimits)
	require.NoError(t, err, "%s", frame)
	assert.Equal(t, protocol.TypeResponse, env.Type)
	assert.Equal(t, "req-9", env.RequestID)
	assert.Equal(t, protocol.StatusSuccess, env.Status)
	assert.Equal(t, `{"message":"done \"x\"","data":`+data+`}`, string(env.Payload))
	same := protocol.CommandReply("req-9", "m", map[string]int{"n": 1}, now)
	assert.Equal(t, string(same.Payload),
		string(protocol.CommandReplyData("req-9", "m", json.RawMessage(`{"n":1}`), now).Payload),
		"the shape of CommandReply")
	assert.JSONEq(t, `{"message":"m","data":{}}`, string(protocol.CommandReplyData("r", "m", nil, now).Payload))
}
