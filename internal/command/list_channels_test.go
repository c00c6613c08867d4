package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

func TestListChannelsOfATenantWithNothingIsAnEmptyListWithNoMore(t *testing.T) {
	reg := registry(bus.NewHub(8), nil)
	r := run(t, reg, alice, "list_channels", ``)
	require.Empty(t, r.Code, "problems: %q", r.Problems)
	assert.Equal(t, map[string]any{"channels": []any{}, "more": false}, r.Data)
}

// pairsOf joins a client of tenant to channels c000…c<n-1> of room.
func pairsOf(t *testing.T, hub *bus.Hub, id, tenant, room string, n int) {
	t.Helper()
	hub.Register(member{id, tenant})
	for i := range n {
		_, err := hub.Join(id, bus.Topic{Tenant: tenant, Room: room, Channel: fmt.Sprintf("c%03d", i)})
		require.NoError(t, err)
	}
}

func TestListChannelsPagesWithLimitAndAfterUntilNoMore(t *testing.T) {
	hub := bus.NewHub(300)
	pairsOf(t, hub, "alice", "acme", "big", 250)
	pairsOf(t, hub, "bob", "globex", "big", 3)
	reg := registry(hub, nil)

	first := run(t, reg, alice, "list_channels", ``)
	require.Empty(t, first.Code, "problems: %q", first.Problems)
	assert.Len(t, first.Data["channels"], 100, "the default limit")
	assert.Equal(t, true, first.Data["more"])
	require.IsType(t, "", first.Data["next"])

	for _, limit := range []int{1, 7, 100, 250, 500} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 300, "paging ends")
			args := fmt.Sprintf(`{"limit":%d}`, limit)
			if after != "" {
				args = fmt.Sprintf(`{"limit":%d,"after":%q}`, limit, after)
			}
			r := run(t, reg, alice, "list_channels", args)
			require.Empty(t, r.Code, "problems: %q", r.Problems)
			list := r.Data["channels"].([]any)
			require.LessOrEqual(t, len(list), limit)
			for _, c := range list {
				c := c.(map[string]any)
				assert.Equal(t, "big", c["room"], "only the caller's tenant")
				got = append(got, c["channel"].(string))
			}
			if r.Data["more"] != true {
				assert.NotContains(t, r.Data, "next", "no cursor on the last page")
				break
			}
			after = r.Data["next"].(string)
		}
		want := make([]string, 250)
		for i := range want {
			want[i] = fmt.Sprintf("c%03d", i)
		}
		assert.Equal(t, want, got, "limit %d walks every pair once, in order", limit)
	}
}

func TestListChannelsStopsAPageBeforeItOutgrowsTheReplyBound(t *testing.T) {
	hub := bus.NewHub(300)
	pairsOf(t, hub, "alice", "acme", strings.Repeat("r", 100), 50)
	reg := command.New(command.Deps{
		Hub: hub, Status: func() command.Status { return command.Status{} }, MaxReplyBytes: 16 << 10,
		Clock: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	r := run(t, reg, alice, "list_channels", `{"limit":50}`)
	require.Empty(t, r.Code, "problems: %q", r.Problems)
	list := r.Data["channels"].([]any)
	assert.NotEmpty(t, list)
	assert.Less(t, len(list), 50, "the page was cut to fit")
	assert.Equal(t, true, r.Data["more"], "a cut page says more follow")
	b, err := json.Marshal(r.Data)
	require.NoError(t, err)
	assert.Less(t, len(b), 16<<10)

	next := run(t, reg, alice, "list_channels", fmt.Sprintf(`{"limit":50,"after":%q}`, r.Data["next"]))
	require.Empty(t, next.Code, "problems: %q", next.Problems)
	assert.Equal(t, fmt.Sprintf("c%03d", len(list)), next.Data["channels"].([]any)[0].(map[string]any)["channel"],
		"the next page starts where the cut one stopped")
}

func TestListChannelsRefusesABadLimitOrCursor(t *testing.T) {
	reg := registry(bus.NewHub(8), nil)
	for _, c := range []struct{ name, args, problem string }{
		{"a zero limit", `{"limit":0}`, "args.limit must be 1-500"},
		{"a limit over the maximum", `{"limit":501}`, "args.limit must be 1-500"},
		{"a cursor that is not base64", `{"after":"room:channel"}`, "args.after must be the next of a previous list_channels reply"},
		{"a cursor without a separator", `{"after":"cm9vbQ"}`, "args.after must be the next of a previous list_channels reply"},
		{"a cursor with an empty channel", `{"after":"cm9vbQA"}`, "args.after must be the next of a previous list_channels reply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, reg, alice, "list_channels", c.args)
			assert.Equal(t, string(protocol.CodeValidation), r.Code)
			assert.Equal(t, []string{c.problem}, r.Problems)
		})
	}
	r := run(t, reg, alice, "list_channels", `{"limit":500,"after":"cm9vbQBj"}`) // "room\x00c"
	assert.Empty(t, r.Code, "control: the largest limit and a well-formed cursor pass: %q", r.Problems)
}

func TestTheStatusCommandCountsOnlyTheCallersTenant(t *testing.T) {
	hub := bus.NewHub(300)
	pairsOf(t, hub, "alice", "acme", "big", 250)
	joined(t, hub, "anna", "acme", [2]string{"small", "c"})
	joined(t, hub, "bob", "globex", [2]string{"one", "c"})
	reg := command.New(command.Deps{
		Hub: hub,
		Status: func() command.Status {
			rooms, channels := hub.Stats()
			return command.Status{Service: "arqonbus", Connections: hub.Clients(), Rooms: rooms, Channels: channels}
		},
		Clock: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	guest := func(tenant string) command.Caller {
		return command.Caller{ClientID: "g-" + tenant, Tenant: tenant, Role: auth.RoleGuest}
	}
	for _, c := range []struct {
		tenant                       string
		connections, rooms, channels float64
	}{
		{"acme", 2, 2, 251},
		{"globex", 1, 1, 1},
		{"initech", 0, 0, 0},
	} {
		r := run(t, reg, guest(c.tenant), "status", ``)
		require.Empty(t, r.Code, "problems: %q", r.Problems)
		assert.Equal(t, "arqonbus", r.Data["service"], "the rest of the snapshot is the node's")
		assert.Equal(t, []float64{c.connections, c.rooms, c.channels},
			[]float64{r.Data["connections"].(float64), r.Data["rooms"].(float64), r.Data["channels"].(float64)}, "tenant %s", c.tenant)
	}
}
