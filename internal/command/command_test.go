package command

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/cron"
	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/memkv"
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
	kv    *memkv.Store
	m     *metrics.Metrics
}

func newFixture(t *testing.T, lanesOpen bool) *fixture {
	t.Helper()
	f := &fixture{hub: bus.NewHub(4), store: memstore.New(100), m: metrics.New(nil),
		kv: memkv.New(memkv.Options{Limits: testKVLimits})}
	t.Cleanup(func() { _ = f.store.Close(); _ = f.kv.Close() })
	f.reg = New(Deps{
		Hub: f.hub, Store: f.store, PrototypeLanesOpen: lanesOpen,
		KV: f.kv, KVLimits: testKVLimits,
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
	closed := newFixture(t, false).run(t, user, "op.task.submit", "")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), closed.ErrorCode)
	assert.Contains(t, closed.Error, "closed in this profile")
	open := newFixture(t, true).run(t, user, "op.worker.leave", "")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), open.ErrorCode)
	assert.Contains(t, open.Error, "not configured on this node")
}

func TestHelpListsTheCatalogueAndOneCommand(t *testing.T) {
	f := newFixture(t, false)
	all := data(t, f.run(t, user, "help", ""))["commands"].([]any)
	assert.Len(t, all, 21)
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

var testKVLimits = kv.Limits{MaxValueBytes: 32, MaxKeys: 3}

func TestStoreCommandsSetGetListAndDeleteInTheCallersTenant(t *testing.T) {
	f := newFixture(t, false)
	set := data(t, f.run(t, user, "op.store.set", `{"key":"b","value":{"n":1}}`))
	assert.Equal(t, map[string]any{"namespace": "default", "key": "b", "updated": true, "created": true}, set)
	f.run(t, user, "op.store.set", `{"key":"a","value":[1,2]}`)
	got := data(t, f.run(t, user, "op.store.get", `{"key":"b"}`))
	assert.Equal(t, map[string]any{"namespace": "default", "key": "b", "found": true, "value": map[string]any{"n": 1.0}}, got)
	assert.Equal(t, map[string]any{"namespace": "default", "count": 2.0, "keys": []any{"a", "b"}},
		data(t, f.run(t, user, "op.store.list", "")))
	assert.Equal(t, map[string]any{"namespace": "default", "key": "b", "deleted": true},
		data(t, f.run(t, user, "op.store.delete", `{"key":"b"}`)))
	assert.Equal(t, false, data(t, f.run(t, user, "op.store.get", `{"key":"b"}`))["found"])
	other := Caller{ClientID: "c9", Tenant: "other", Role: auth.RoleUser}
	assert.Equal(t, false, data(t, f.run(t, other, "op.store.get", `{"key":"a"}`))["found"], "another tenant sees nothing")
	assert.Equal(t, 2.0, promtest.ToFloat64(f.m.KVOperations.WithLabelValues(string(metrics.KVGet), string(metrics.KVMiss))))
}

func TestStoreArgumentsAreValidated(t *testing.T) {
	long := strings.Repeat("k", 257)
	for _, tc := range []struct {
		name, command, args, problem string
	}{
		{"a missing key", "op.store.get", `{}`, "args.key is required"},
		{"an empty key", "op.store.get", `{"key":""}`, "args.key must be 1-256 bytes"},
		{"a key over 256 bytes", "op.store.delete", `{"key":"` + long + `"}`, "args.key must be 1-256 bytes"},
		{"a null value", "op.store.set", `{"key":"k","value":null}`, "args.value must not be null"},
		{"a missing value", "op.store.set", `{"key":"k"}`, "args.value is required"},
		{"a namespace with a slash", "op.store.get", `{"key":"k","namespace":"a/b"}`, "args.namespace may hold only"},
		{"an empty namespace", "op.store.list", `{"namespace":""}`, "args.namespace must be 1-128 characters"},
		{"a zero ttl", "op.store.set", `{"key":"k","value":1,"ttl_seconds":0}`, "args.ttl_seconds must be 1-31536000"},
		{"a ttl over a year", "op.store.set", `{"key":"k","value":1,"ttl_seconds":31536001}`, "args.ttl_seconds must be 1-31536000"},
		{"a list limit of 0", "op.store.list", `{"limit":0}`, "args.limit must be 1-1000"},
		{"a list limit over 1000", "op.store.list", `{"limit":1001}`, "args.limit must be 1-1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFixture(t, false).run(t, user, tc.command, tc.args)
			require.Equal(t, string(protocol.CodeValidation), r.ErrorCode)
			assert.Contains(t, string(r.Payload), tc.problem)
		})
	}
}

func TestStoreLimitsAreLimitExceededNamingTheLimit(t *testing.T) {
	f := newFixture(t, false)
	r := f.run(t, user, "op.store.set", `{"key":"k","value":"`+strings.Repeat("x", 31)+`"}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode, "33 bytes of JSON as sent")
	assert.Contains(t, r.Error, "ARQONBUS_STORE_MAX_VALUE_BYTES (32)")
	for _, k := range []string{"a", "b", "c"} {
		require.Equal(t, protocol.StatusSuccess, f.run(t, user, "op.store.set", `{"key":"`+k+`","value":1,"namespace":"n`+k+`"}`).Status)
	}
	r = f.run(t, user, "op.store.set", `{"key":"d","value":1}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode)
	assert.Contains(t, r.Error, "ARQONBUS_STORE_MAX_KEYS (3)")
	assert.Equal(t, 1.0, promtest.ToFloat64(f.m.KVOperations.WithLabelValues(string(metrics.KVSet), string(metrics.KVLimit))))
}

func TestStoreCommandsAreOpenWhateverThePrototypeGate(t *testing.T) {
	r := newFixture(t, false).run(t, user, "op.store.list", "")
	assert.Equal(t, protocol.StatusSuccess, r.Status)
}

type downKV struct{ kv.Store }

func (downKV) Get(context.Context, kv.Space, string) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("get: %w: dial tcp: refused", kv.ErrUnavailable)
}

func TestAnUnreachableStoreIsStorageUnavailable(t *testing.T) {
	reg := New(Deps{Hub: bus.NewHub(4), KV: downKV{}, Status: func() Status { return Status{} }})
	r := reg.Handle(context.Background(), user, &protocol.Envelope{ID: "x", Command: "op.store.get", Args: json.RawMessage(`{"key":"k"}`)})
	assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode)
	assert.NotContains(t, r.Error, "dial", "no internals reach the client")
}

func newCronFixture(t *testing.T) (*fixture, *cron.Scheduler) {
	t.Helper()
	f := newFixture(t, false)
	s := cron.New(cron.Options{Fire: func(cron.Job, int) cron.Result { return metrics.CronOK },
		MaxPerClient: 2, MaxJobs: 3, Metrics: f.m})
	t.Cleanup(s.Close)
	f.reg = New(Deps{Hub: f.hub, Cron: s, CronMinInterval: time.Second, Metrics: f.m,
		Clock: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	return f, s
}

const cronArgs = `{"room":"r","channel":"c","payload":{"x":1},"delay_seconds":60`

func TestCronScheduleAnswersTheJobWithItsDefaults(t *testing.T) {
	f, s := newCronFixture(t)
	r := f.run(t, user, "op.cron.schedule", `{"room":"r:c","payload":{"x":1}}`)
	require.Equal(t, protocol.StatusSuccess, r.Status, r.Error)
	d := data(t, r)
	assert.Regexp(t, `^cron_[0-9a-f]{12}$`, d["job_id"])
	assert.Equal(t, map[string]any{"job_id": d["job_id"], "room": "r", "channel": "c", "delay_seconds": 1.0,
		"interval_seconds": 0.0, "repeat_count": 1.0, "created_at": d["created_at"]}, d)
	j, ok := s.Get(d["job_id"].(string))
	require.True(t, ok)
	assert.Equal(t, "c1", j.Owner)
	assert.Equal(t, "acme", j.Tenant)
}

func TestCronScheduleValidatesItsArguments(t *testing.T) {
	f, _ := newCronFixture(t)
	for name, args := range map[string]string{
		"a payload that is not an object": `{"room":"r","channel":"c","payload":[1]}`,
		"a delay below 0.1 s":             `{"room":"r","channel":"c","payload":{},"delay_seconds":0.05}`,
		"a delay over a week":             `{"room":"r","channel":"c","payload":{},"delay_seconds":604801}`,
		"a repeat count of 0":             `{"room":"r","channel":"c","payload":{},"repeat_count":0}`,
		"a repeat count over 100000":      `{"room":"r","channel":"c","payload":{},"repeat_count":100001,"interval_seconds":1}`,
		"repeats without an interval":     `{"room":"r","channel":"c","payload":{},"repeat_count":2}`,
		"an interval below the minimum":   `{"room":"r","channel":"c","payload":{},"repeat_count":2,"interval_seconds":0.5}`,
		"a delay given as a string":       `{"room":"r","channel":"c","payload":{},"delay_seconds":"1"}`,
		"a bad room name":                 `{"room":"","channel":"c","payload":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := f.run(t, user, "op.cron.schedule", args)
			assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode, r.Error)
		})
	}
}

func TestCronLimitsAreLimitExceededNamingTheLimit(t *testing.T) {
	f, _ := newCronFixture(t)
	for i := 0; i < 2; i++ {
		require.Equal(t, protocol.StatusSuccess, f.run(t, user, "op.cron.schedule", cronArgs+`}`).Status)
	}
	r := f.run(t, user, "op.cron.schedule", cronArgs+`}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode)
	assert.Contains(t, r.Error, "ARQONBUS_CRON_MAX_JOBS_PER_CLIENT")
	other := Caller{ClientID: "c2", Tenant: "acme", Role: auth.RoleUser}
	require.Equal(t, protocol.StatusSuccess, f.run(t, other, "op.cron.schedule", cronArgs+`}`).Status)
	r = f.run(t, other, "op.cron.schedule", cronArgs+`}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode)
	assert.Contains(t, r.Error, "ARQONBUS_CRON_MAX_JOBS ")
}

func TestCronCancelIsForTheOwnerOrAnAdminOfTheTenant(t *testing.T) {
	f, s := newCronFixture(t)
	id := data(t, f.run(t, user, "op.cron.schedule", cronArgs+`}`))["job_id"].(string)
	peer := Caller{ClientID: "c2", Tenant: "acme", Role: auth.RoleUser}
	stranger := Caller{ClientID: "c3", Tenant: "other", Role: auth.RoleAdmin}
	admin := Caller{ClientID: "c4", Tenant: "acme", Role: auth.RoleAdmin}

	assert.Equal(t, string(protocol.CodeAuthorization), f.run(t, peer, "op.cron.cancel", `{"job_id":"`+id+`"}`).ErrorCode)
	assert.Equal(t, string(protocol.CodeNotFound), f.run(t, stranger, "op.cron.cancel", `{"job_id":"`+id+`"}`).ErrorCode)
	assert.Equal(t, string(protocol.CodeNotFound), f.run(t, user, "op.cron.cancel", `{"job_id":"cron_000000000000"}`).ErrorCode)

	listed := data(t, f.run(t, admin, "op.cron.list", ""))
	assert.EqualValues(t, 1, listed["count"], "an admin sees the tenant's jobs")
	assert.EqualValues(t, 0, data(t, f.run(t, peer, "op.cron.list", ""))["count"], "a user sees only its own")

	r := f.run(t, admin, "op.cron.cancel", `{"job_id":"`+id+`"}`)
	require.Equal(t, protocol.StatusSuccess, r.Status, r.Error)
	assert.Equal(t, 0, s.Len())
	assert.InDelta(t, 1, promtest.ToFloat64(f.m.CronCancellations.WithLabelValues("admin_cancel")), 0)

	id = data(t, f.run(t, user, "op.cron.schedule", cronArgs+`}`))["job_id"].(string)
	require.Equal(t, protocol.StatusSuccess, f.run(t, user, "op.cron.cancel", `{"job_id":"`+id+`"}`).Status)
	assert.InDelta(t, 1, promtest.ToFloat64(f.m.CronCancellations.WithLabelValues("owner_cancel")), 0)
}

func TestCronWithoutASchedulerIsFeatureDisabled(t *testing.T) {
	r := newFixture(t, true).run(t, user, "op.cron.list", "")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), r.ErrorCode)
	assert.NotContains(t, r.Error, "prototype")
}
