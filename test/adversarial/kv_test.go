package adversarial

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// kvServer starts a server with auth on, no rate limit and the given
// key-value limits, and returns it with a connection per tenant.
func kvServer(t *testing.T, maxValue, maxKeys int, tenants ...string) (*testutil.Server, map[string]*client.Client) {
	t.Helper()
	s := start(t, unlimited, tolerant, func(c *config.Config) {
		c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
		c.StoreMaxValueBytes, c.StoreMaxKeys = maxValue, maxKeys
	})
	conns := map[string]*client.Client{}
	for _, tenant := range tenants {
		tok := testutil.Token(t, tokenSecret, testutil.Claims("u-"+tenant, tenant, "user"))
		conns[tenant] = testutil.Dial(t, s, client.Options{Token: tok})
	}
	return s, conns
}

// kvCall sends a command with raw JSON args and returns its one reply.
func kvCall(t *testing.T, c *client.Client, name, args string) *protocol.Envelope {
	t.Helper()
	return testutil.Request(t, c, &protocol.Envelope{Type: protocol.TypeCommand, Command: name, Args: json.RawMessage(args)})
}

func kvArgs(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

// TestHostileKeysAreKeptApartAndReadBackExactly stores values under keys
// built from the separators and look-alikes a key layout could confuse
// (':', '{', '}', '%', escapes, Unicode confusables, normalisation forms)
// and reads each one back as its own.
func TestHostileKeysAreKeptApartAndReadBackExactly(t *testing.T) {
	_, conns := kvServer(t, 1024, 1000, "acme")
	c := conns["acme"]
	keys := []string{
		"a:b", "a", "b", "a%3Ab", "a%3ab", "{x}", "{", "}", "x}", "{a:b}", "%", "%%", "%7B",
		"a\u200bb", "ab", "ａｂ", "Α", "A", "é", "e\u0301", "\u0000", " ", "a b", "a\nb", "a/b", "../a",
		"\U0001F600", strings.Repeat("k", 256), strings.Repeat("é", 128),
	}
	for i, k := range keys {
		testutil.Command(t, c, "op.store.set", map[string]any{"key": k, "value": i})
	}
	for i, k := range keys {
		got := testutil.Command(t, c, "op.store.get", map[string]any{"key": k})
		require.Equal(t, true, got["found"], "key %q", k)
		assert.Equal(t, float64(i), got["value"], "key %q read another key's value", k)
	}
	listed := testutil.Command(t, c, "op.store.list", map[string]any{"limit": 1000})
	want := slices.Clone(keys)
	slices.Sort(want)
	var got []string
	for _, k := range listed["keys"].([]any) {
		got = append(got, k.(string))
	}
	assert.Equal(t, want, got, "every key listed once, sorted bytewise")
	assert.Equal(t, []any{"a", "a\nb", "a b", "a%3Ab", "a%3ab", "a/b", "a:b", "ab", "a\u200bb"},
		testutil.Command(t, c, "op.store.list", map[string]any{"prefix": "a"})["keys"], "prefix matches bytes, not escapes")
}

// TestMalformedKeysValuesAndNamespacesAreRefusedClearly walks the edges of
// every argument: each bad one is one error naming the problem, and the
// store is unchanged.
func TestMalformedKeysValuesAndNamespacesAreRefusedClearly(t *testing.T) {
	_, conns := kvServer(t, 64, 1000, "acme")
	c := conns["acme"]
	for _, tc := range []struct {
		name, command, args string
		code                protocol.Code
		says                string
	}{
		{"an empty key", "op.store.set", `{"key":"","value":1}`, protocol.CodeValidation, "args.key must be 1-256 bytes"},
		{"a key of 257 bytes", "op.store.set", kvArgs(map[string]any{"key": strings.Repeat("k", 257), "value": 1}), protocol.CodeValidation, "args.key must be 1-256 bytes"},
		{"a key of 86 characters but 258 bytes", "op.store.get", kvArgs(map[string]any{"key": strings.Repeat("€", 86)}), protocol.CodeValidation, "args.key must be 1-256 bytes"},
		{"a numeric key", "op.store.get", `{"key":1}`, protocol.CodeValidation, "args.key must be a string"},
		{"a null value", "op.store.set", `{"key":"k","value":null}`, protocol.CodeValidation, "args.value must not be null"},
		{"a null value with spaces", "op.store.set", `{"key":"k","value": null }`, protocol.CodeValidation, "args.value must not be null"},
		{"a value over the limit", "op.store.set", kvArgs(map[string]any{"key": "k", "value": strings.Repeat("x", 63)}), protocol.CodeLimitExceeded, "ARQONBUS_STORE_MAX_VALUE_BYTES (64)"},
		{"a value padded over the limit", "op.store.set", `{"key":"k","value":[1` + strings.Repeat(" ", 64) + `]}`, protocol.CodeLimitExceeded, "ARQONBUS_STORE_MAX_VALUE_BYTES"},
		{"a namespace with a slash", "op.store.get", `{"key":"k","namespace":"globex/default"}`, protocol.CodeValidation, "args.namespace may hold only"},
		{"a namespace with braces", "op.store.get", `{"key":"k","namespace":"{globex}"}`, protocol.CodeValidation, "args.namespace may hold only"},
		{"a namespace with a look-alike letter", "op.store.get", `{"key":"k","namespace":"glоbex"}`, protocol.CodeValidation, "args.namespace may hold only"},
		{"a namespace of 129 characters", "op.store.list", kvArgs(map[string]any{"namespace": strings.Repeat("n", 129)}), protocol.CodeValidation, "args.namespace must be 1-128 characters"},
		{"an empty namespace", "op.store.list", `{"namespace":""}`, protocol.CodeValidation, "args.namespace must be 1-128 characters"},
		{"a tenant argument", "op.store.get", `{"key":"k","tenant":"globex"}`, protocol.CodeValidation, `unknown argument "tenant"`},
		{"a negative ttl", "op.store.set", `{"key":"k","value":1,"ttl_seconds":-1}`, protocol.CodeValidation, "args.ttl_seconds must be 1-"},
		{"a fractional ttl", "op.store.set", `{"key":"k","value":1,"ttl_seconds":1.5}`, protocol.CodeValidation, "args.ttl_seconds must be a integer"},
		{"a huge list limit", "op.store.list", `{"limit":1000000000000}`, protocol.CodeValidation, "args.limit must be 1-1000"},
		{"args that are not an object", "op.store.list", `[1]`, protocol.CodeValidation, "args must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kvCall(t, c, tc.command, tc.args)
			require.Equal(t, string(tc.code), r.ErrorCode, "%s", protocol.Encode(r))
			assert.Contains(t, r.Error+string(r.Payload), tc.says)
		})
	}
	assert.Empty(t, testutil.Command(t, c, "op.store.list", nil)["keys"], "nothing was stored")
	// The limit counts the JSON as sent: a 62-character string is 64 bytes.
	testutil.Command(t, c, "op.store.set", map[string]any{"key": "k", "value": strings.Repeat("x", 62)})
}

// TestNamespacesNamedAfterAnotherTenantStayInTheCallersTenant: whatever a
// tenant names its namespace, including the other tenant's name and its
// namespaces, it works in its own space only, up to its own key limit.
func TestNamespacesNamedAfterAnotherTenantStayInTheCallersTenant(t *testing.T) {
	_, conns := kvServer(t, 1024, 4, "acme", "globex")
	acme, globex := conns["acme"], conns["globex"]
	testutil.Command(t, globex, "op.store.set", map[string]any{"key": "plan", "value": "globex", "namespace": "default"})
	for _, ns := range []string{"globex", "globex:default", "globex.default", "default"} {
		testutil.Command(t, acme, "op.store.set", map[string]any{"key": "plan", "value": "acme", "namespace": ns})
	}
	r := kvCall(t, acme, "op.store.set", `{"key":"plan","value":"acme","namespace":"globex:x"}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode, "acme's namespaces all count against acme")
	assert.Contains(t, r.Error, "ARQONBUS_STORE_MAX_KEYS (4)")
	testutil.Command(t, globex, "op.store.set", map[string]any{"key": "other", "value": 1}) // globex's own limit is untouched
	got := testutil.Command(t, globex, "op.store.get", map[string]any{"key": "plan"})
	assert.Equal(t, "globex", got["value"])
	assert.Equal(t, []any{"other", "plan"}, testutil.Command(t, globex, "op.store.list", nil)["keys"])
}

// TestTwoTenantsNeverObserveEachOthersValues is a property: whatever two
// tenants do with set and delete, over shared key and namespace names
// (each other's names included), every read of either tenant answers its
// own model and nothing of the other's.
func TestTwoTenantsNeverObserveEachOthersValues(t *testing.T) {
	_, conns := kvServer(t, 1024, 100000, "acme", "globex")
	tenants := []string{"acme", "globex"}
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		defer cancel()
		// A namespace of this round only, so rounds share no state.
		nsOf := func(base string) string { return fmt.Sprintf("%s.r%d", base, round) }
		model := map[string]map[[2]string]string{"acme": {}, "globex": {}}
		call := func(tenant, name string, args map[string]any) map[string]any {
			raw, err := conns[tenant].Command(ctx, name, args)
			if err != nil {
				rt.Fatalf("%s %s %v: %v", tenant, name, args, err)
			}
			var data map[string]any
			if err := json.Unmarshal(raw, &data); err != nil {
				rt.Fatalf("decode: %v", err)
			}
			return data
		}
		genKey := rapid.SampledFrom([]string{"k", "a:b", "{acme}", "{globex}", "globex", "acme:k"})
		genNS := rapid.SampledFrom([]string{"default", "acme", "globex", "globex:default", "acme:default"})
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for i := range steps {
			tenant := rapid.SampledFrom(tenants).Draw(rt, "tenant")
			ns, key := nsOf(genNS.Draw(rt, "namespace")), genKey.Draw(rt, "key")
			if rapid.Bool().Draw(rt, "set") {
				value := fmt.Sprintf("%s-%d", tenant, i)
				call(tenant, "op.store.set", map[string]any{"key": key, "namespace": ns, "value": value})
				model[tenant][[2]string{ns, key}] = value
			} else {
				call(tenant, "op.store.delete", map[string]any{"key": key, "namespace": ns})
				delete(model[tenant], [2]string{ns, key})
			}
			for _, reader := range tenants {
				got := call(reader, "op.store.get", map[string]any{"key": key, "namespace": ns})
				want, ok := model[reader][[2]string{ns, key}]
				if got["found"] != ok || ok && got["value"] != want {
					rt.Fatalf("%s reads %s/%s as %v, want %q (present %v)", reader, ns, key, got, want, ok)
				}
			}
		}
		for _, tenant := range tenants {
			for nk, want := range model[tenant] {
				got := call(tenant, "op.store.get", map[string]any{"key": nk[1], "namespace": nk[0]})
				if got["value"] != want {
					rt.Fatalf("%s's %v is %v, want %q", tenant, nk, got["value"], want)
				}
				call(tenant, "op.store.delete", map[string]any{"key": nk[1], "namespace": nk[0]})
			}
		}
	})
}

// TestAFailingRedisIsStorageUnavailableInBothModes: the key-value store has
// no memory fallback, so while Redis fails every op.store.* call answers
// STORAGE_UNAVAILABLE, in degraded mode too, and works again once Redis
// does.
func TestAFailingRedisIsStorageUnavailableInBothModes(t *testing.T) {
	for _, mode := range []string{config.ModeStrict, config.ModeDegraded} {
		t.Run(mode, func(t *testing.T) {
			mr := redistest.MiniRedis(t)
			s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), mode), testutil.WithConfig(unlimited))
			c := testutil.Dial(t, s)
			testutil.Command(t, c, "op.store.set", map[string]any{"key": "k", "value": 1})
			mr.SetError("LOADING Redis is loading the dataset in memory")
			for _, call := range [][2]string{
				{"op.store.set", `{"key":"k","value":2}`}, {"op.store.get", `{"key":"k"}`},
				{"op.store.delete", `{"key":"k"}`}, {"op.store.list", `{}`},
			} {
				r := kvCall(t, c, call[0], call[1])
				assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode, "%s while Redis fails", call[0])
				assert.NotContains(t, r.Error, "LOADING", "no Redis detail reaches the client")
			}
			mr.SetError("")
			got := testutil.Command(t, c, "op.store.get", map[string]any{"key": "k"})
			assert.Equal(t, 1.0, got["value"], "the value Redis kept, never a fallback's")
			assert.Positive(t, s.Counter(t, "kv_operations_total", "get", "unavailable"))
		})
	}
}
