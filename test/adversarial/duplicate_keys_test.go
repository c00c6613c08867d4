package adversarial

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// A top-level field given twice used to resolve last-wins, so a frame that a
// proxy, a filter or an audit log reads as a message ran as a command, or a
// message checked for one room went to another. Every such frame is a
// VALIDATION_ERROR naming the field: nothing runs, nothing is delivered,
// and the sender keeps its connection.
func TestDuplicateTopLevelFieldsAreRefusedNamingTheField(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	attacker := testutil.Dial(t, s)
	victim := testutil.Dial(t, s)
	testutil.Join(t, victim, "open", "c")
	testutil.Join(t, victim, "other", "c")

	cases := []struct{ name, frame, id, field string }{
		{"a message that runs as a command",
			`{"id":"d1","type":"message","room":"open","channel":"c","payload":{},"type":"command","command":"join_channel","args":{"room":"hidden","channel":"c"}}`, "d1", "type"},
		{"a command that runs as a message",
			`{"id":"d2","type":"command","command":"ping","type":"message","room":"open","channel":"c","payload":{"x":1}}`, "d2", "type"},
		{"an escaped second spelling",
			`{"id":"d3","type":"message","room":"open","channel":"c","payload":{},"\u0074ype":"command","command":"join_channel","args":{"room":"hidden","channel":"c"}}`, "d3", "type"},
		{"a message re-routed to another room",
			`{"id":"d4","type":"message","room":"open","channel":"c","payload":{"x":1},"room":"other"}`, "d4", "room"},
		{"a second command",
			`{"id":"d5","type":"command","command":"ping","command":"join_channel","args":{"room":"hidden","channel":"c"}}`, "d5", "command"},
		{"a second set of args",
			`{"id":"d6","type":"command","command":"join_channel","args":{"room":"open","channel":"c"},"args":{"room":"hidden","channel":"c"}}`, "d6", "args"},
		{"a null that erases the command",
			`{"id":"d7","type":"command","command":"join_channel","args":{"room":"hidden","channel":"c"},"command":null}`, "d7", "command"},
	}
	for _, tc := range cases {
		sendText(t, attacker, tc.frame)
		got := expectCode(t, attacker, protocol.CodeValidation, tc.name)
		assert.Equal(t, protocol.TypeError, got.Type, tc.name)
		assert.Equal(t, tc.id, got.RequestID, "%s: the reply names the envelope", tc.name)
		assert.Contains(t, problems(t, got), `duplicate field "`+tc.field+`"`, tc.name)
		assertNoInternals(t, got, tc.name)
	}
	// Nothing ran: the attacker joined no channel, and the victim received
	// nothing (proved below by the first message it does receive).
	who := testutil.Command(t, attacker, "whoami", nil)
	assert.Empty(t, who["subscriptions"], "no smuggled join_channel ran")

	// Control: the same message without the repeat is delivered, so the
	// refusals above are about the repeat alone.
	sendText(t, attacker, `{"id":"ok1","type":"message","room":"open","channel":"c","payload":{"n":"first"}}`)
	got := testutil.Expect(t, victim)
	assert.Equal(t, protocol.TypeMessage, got.Type)
	assert.JSONEq(t, `{"n":"first"}`, string(got.Payload), "the first delivery is the control: no refused frame got through")
	testutil.ExpectNone(t, victim, 100*time.Millisecond)
	assertStillOpen(t, attacker)
	by.stillServed(t)
}
