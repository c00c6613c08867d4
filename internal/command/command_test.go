package command

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

type sub struct{ id, tenant string }

func (s sub) ID() string       { return s.id }
func (s sub) Tenant() string   { return s.tenant }
func (s sub) Send([]byte) bool { return true }

type fixture struct {
	reg   *Registry
	hub   *bus.Hub
	store *memstore.Store
	m     *metrics.Metrics
}

func newFixture(t *testing.T, lanesOpen bool) *fixture {
	t.Helper()
	f := &fixture{hub: bus.NewHub(4), store: memstore.New(100), m: metrics.New(nil)}
	t.Cleanup(func() { _ = f.store.Close() })
	f.reg = New(Deps{
		Hub: f.hub, Store: f.store, PrototypeLanesOpen: lanesOpen,
		Status:  func() Status { return Status{Service: "arqonbus", Profile: "dev"} },
		Clock:   func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		Metrics: f.m,
	})
	return f
}

func (f *fixture) run(t *testing.T, caller Caller, name string, args string) *protocol.Envelope {
	t.Helper()
	env := &protocol.Envelope{ID: "req-1", Type: protocol.TypeCommand, Command: name}
	if args != "" {
		env.Args = json.RawMessage(args)
	}
	r := f.reg.Handle(context.Background(), caller, env)
	require.Equal(t, protocol.TypeResponse, r.Type)
	require.Equal(t, "req-1", r.RequestID, "the reply names the request")
	return r
}

func data(t *testing.T, r *protocol.Envelope) map[string]any {
	t.Helper()
	var body struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.Payload, &body))
	return body.Data
}

var user = Caller{ClientID: "c1", Subject: "alice", Tenant: "acme", Role: auth.RoleUser}

func TestRolesGateCommands(t *testing.T) {
	f := newFixture(t, false)
	f.hub.Register(sub{"g1", "acme"})
	guest := Caller{ClientID: "g1", Tenant: "acme", Role: auth.RoleGuest}
	assert.Equal(t, protocol.StatusSuccess, f.run(t, guest, "ping", "").Status)
	r := f.run(t, guest, "join_channel", `{"room":"r","channel":"c"}`)
	assert.Equal(t, string(protocol.CodeAuthorization), r.ErrorCode)
	assert.Contains(t, r.Error, "needs role user")
}

func TestJoinIsScopedToTheCallersTenant(t *testing.T) {
	f := newFixture(t, false)
	f.hub.Register(sub{"c1", "acme"})
	f.run(t, user, "join_channel", `{"room":"r","channel":"c"}`)
	assert.True(t, f.hub.IsMember("c1", bus.Topic{Tenant: "acme", Room: "r", Channel: "c"}))
	assert.False(t, f.hub.IsMember("c1", bus.Topic{Room: "r", Channel: "c"}))
}

func TestHistoryValidatesItsBounds(t *testing.T) {
	f := newFixture(t, false)
	for _, args := range []string{
		`{"room":"r","channel":"c","limit":0}`,
		`{"room":"r","channel":"c","limit":501}`,
		`{"room":"r","channel":"c","limit":1.5}`,
		`{"room":"r","channel":"c","since":"not an id!"}`,
		`{"room":"r","channel":"c","before":7}`,
	} {
		r := f.run(t, user, "history", args)
		assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode, args)
	}
}

func TestHistoryByTimeAndID(t *testing.T) {
	f := newFixture(t, false)
	key := store.Key{Tenant: "acme", Room: "r", Channel: "c"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		require.NoError(t, f.store.Append(context.Background(), key, &protocol.Envelope{
			ID: "m" + string(rune('0'+i)), Type: "message", Timestamp: base.Add(time.Duration(i) * time.Second),
			Room: "r", Channel: "c", Payload: json.RawMessage(`{}`),
		}))
	}
	ids := func(r *protocol.Envelope) []string {
		var out []string
		for _, m := range data(t, r)["messages"].([]any) {
			out = append(out, m.(map[string]any)["id"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"m2", "m3", "m4"}, ids(f.run(t, user, "history", `{"room":"r","channel":"c","since":"m1"}`)))
	assert.Equal(t, []string{"m0", "m1"}, ids(f.run(t, user, "history", `{"room":"r","channel":"c","before":"2026-01-01T00:00:02Z"}`)))
	assert.Equal(t, []string{"m3", "m4"}, ids(f.run(t, user, "history", `{"room":"r:c","limit":2}`)))
	other := Caller{ClientID: "c9", Tenant: "other", Role: auth.RoleUser}
	assert.Empty(t, data(t, f.run(t, other, "history", `{"room":"r","channel":"c"}`))["messages"], "another tenant sees nothing")
}

func TestHistoryWithoutPersistenceIsFeatureDisabled(t *testing.T) {
	reg := New(Deps{Hub: bus.NewHub(4), Status: func() Status { return Status{} }})
	r := reg.Handle(context.Background(), user, &protocol.Envelope{ID: "x", Command: "history", Args: json.RawMessage(`{"room":"r","channel":"c"}`)})
	assert.Equal(t, string(protocol.CodeFeatureDisabled), r.ErrorCode)
}

func TestPrototypeLanesSayWhyTheyAreClosed(t *testing.T) {
	closed := newFixture(t, false).run(t, user, "op.cron.schedule", "")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), closed.ErrorCode)
	assert.Contains(t, closed.Error, "closed in this profile")
	open := newFixture(t, true).run(t, user, "op.store.put", "")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), open.ErrorCode)
	assert.Contains(t, open.Error, "not available in this version")
}

func TestHelpListsTheCatalogueAndOneCommand(t *testing.T) {
	f := newFixture(t, false)
	all := data(t, f.run(t, user, "help", ""))["commands"].([]any)
	assert.Len(t, all, 9)
	one := data(t, f.run(t, user, "help", `{"command":"history"}`))["commands"].([]any)
	require.Len(t, one, 1)
	assert.Equal(t, "user", one[0].(map[string]any)["role"])
	assert.Equal(t, string(protocol.CodeUnknownCommand), f.run(t, user, "help", `{"command":"nope"}`).ErrorCode)
}

func TestEveryCommandIsObservedWithItsOutcome(t *testing.T) {
	f := newFixture(t, false)
	f.run(t, user, "ping", "")
	f.run(t, user, "bogus", "")
	f.run(t, user, "join_channel", `{}`)
	for _, labels := range [][2]string{{"ping", "success"}, {"unknown", "UNKNOWN_COMMAND"}, {"join_channel", "VALIDATION_ERROR"}} {
		assert.Equal(t, 1.0, promtest.ToFloat64(f.m.Commands.WithLabelValues(labels[0], labels[1])), "%s/%s", labels[0], labels[1])
	}
	assert.Equal(t, 3, promtest.CollectAndCount(f.m.Commands), "nothing else counted")
}

func TestChannelInfoCountsMembersAndMessages(t *testing.T) {
	f := newFixture(t, false)
	f.hub.Register(sub{"c1", "acme"})
	f.run(t, user, "join_channel", `{"room":"r","channel":"c"}`)
	d := data(t, f.run(t, user, "channel_info", `{"room":"r","channel":"c"}`))
	assert.Equal(t, []any{"c1"}, d["members"])
	assert.EqualValues(t, 0, d["message_count"])
}
