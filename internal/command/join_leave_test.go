package command_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

func TestJoiningPastTheSubscriptionCapIsRefused(t *testing.T) {
	hub := bus.NewHub(1)
	joined(t, hub, "alice", "acme")
	reg := registry(hub, nil)
	assert.Empty(t, run(t, reg, alice, "join_channel", `{"room":"science","channel":"explore"}`).Code)
	r := run(t, reg, alice, "join_channel", `{"room":"science","channel":"lab"}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.Code)
}

func TestLeavingAPairNotJoinedIsNotFound(t *testing.T) {
	hub := bus.NewHub(8)
	joined(t, hub, "alice", "acme")
	reg := registry(hub, nil)
	r := run(t, reg, alice, "leave_channel", `{"room":"science","channel":"explore"}`)
	assert.Equal(t, string(protocol.CodeNotFound), r.Code)

	run(t, reg, alice, "join_channel", `{"room":"science","channel":"explore"}`)
	r = run(t, reg, alice, "leave_channel", `{"room":"science:explore"}`)
	assert.Empty(t, r.Code, "problems: %q", r.Problems)
	assert.Equal(t, 0.0, r.Data["members"])
}

func TestJoinAndLeaveReportEveryBadNameAtOnce(t *testing.T) {
	reg := registry(bus.NewHub(8), nil)
	for _, name := range []string{"join_channel", "leave_channel"} {
		r := run(t, reg, alice, name, `{"room":"","channel":""}`)
		assert.Equal(t, string(protocol.CodeValidation), r.Code, name)
		assert.Equal(t, []string{"room must not be empty", "channel must not be empty"}, r.Problems, name)
		r = run(t, reg, alice, name, `{"room":"science","channel":"a\u0007"}`)
		assert.Equal(t, []string{"channel must not contain control characters"}, r.Problems, name)
	}
}
