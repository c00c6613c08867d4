package command_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// member is a connected client as the hub sees it; it accepts every frame.
type member struct{ id, tenant string }

func (m member) ID() string       { return m.id }
func (m member) Tenant() string   { return m.tenant }
func (m member) Send([]byte) bool { return true }

var alice = command.Caller{ClientID: "alice", Subject: "alice", Tenant: "acme", Role: auth.RoleUser}

// registry returns the built-in commands over hub and st.
func registry(hub *bus.Hub, st store.Store) *command.Registry {
	return command.New(command.Deps{
		Hub: hub, Store: st,
		Status: func() command.Status { return command.Status{} },
		Clock:  func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
}

// reply runs one command and returns its reply: the data of a success, or
// the error code and problems of a failure.
type reply struct {
	Data     map[string]any
	Code     string
	Problems []string
}

func run(t *testing.T, reg *command.Registry, caller command.Caller, name, args string) reply {
	t.Helper()
	env := &protocol.Envelope{ID: "req-1", Type: protocol.TypeCommand, Command: name, Args: json.RawMessage(args)}
	r := reg.Handle(context.Background(), caller, env)
	var body struct {
		Data   map[string]any `json:"data"`
		Errors []string       `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(r.Payload, &body))
	return reply{Data: body.Data, Code: r.ErrorCode, Problems: body.Errors}
}

// joined registers a client of tenant in hub and joins it to each room:channel.
func joined(t *testing.T, hub *bus.Hub, id, tenant string, pairs ...[2]string) {
	t.Helper()
	hub.Register(member{id, tenant})
	for _, p := range pairs {
		_, err := hub.Join(id, bus.Topic{Tenant: tenant, Room: p[0], Channel: p[1]})
		require.NoError(t, err)
	}
}

func TestListChannelsWithARoomListsOnlyThatRoomsChannels(t *testing.T) {
	hub := bus.NewHub(8)
	joined(t, hub, "alice", "acme", [2]string{"science", "explore"}, [2]string{"science", "lab"}, [2]string{"ops", "alerts"})
	joined(t, hub, "anna", "acme", [2]string{"science", "lab"})
	joined(t, hub, "bob", "globex", [2]string{"science", "secret"})
	reg := registry(hub, nil)

	for _, c := range []struct {
		name, args string
		want       []any
	}{
		{"a room gives its own channels with their members", `{"room":"science"}`, []any{
			map[string]any{"room": "science", "channel": "explore", "members": 1.0},
			map[string]any{"room": "science", "channel": "lab", "members": 2.0},
		}},
		{"another room gives only its own", `{"room":"ops"}`, []any{
			map[string]any{"room": "ops", "channel": "alerts", "members": 1.0},
		}},
		{"no room gives every room of the tenant", ``, []any{
			map[string]any{"room": "ops", "channel": "alerts", "members": 1.0},
			map[string]any{"room": "science", "channel": "explore", "members": 1.0},
			map[string]any{"room": "science", "channel": "lab", "members": 2.0},
		}},
		{"a room nobody is in gives an empty list", `{"room":"hr"}`, []any{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, reg, alice, "list_channels", c.args)
			require.Empty(t, r.Code, "problems: %q", r.Problems)
			assert.Equal(t, c.want, r.Data["channels"])
		})
	}
}

func TestListChannelsRefusesAnEmptyRoomName(t *testing.T) {
	reg := registry(bus.NewHub(8), nil)
	r := run(t, reg, alice, "list_channels", `{"room":""}`)
	assert.Equal(t, string(protocol.CodeValidation), r.Code)
	assert.Equal(t, []string{"room must not be empty"}, r.Problems)
}
