//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// kvReply is the data of an op.store.* reply as `arqon kv` prints it.
func kvReply(t *testing.T, stdout string) map[string]any {
	t.Helper()
	var r struct {
		Status  string `json:"status"`
		Payload struct {
			Data map[string]any `json:"data"`
		} `json:"payload"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), "arqon kv stdout: %q", stdout)
	require.Equal(t, "success", r.Status, "arqon kv stdout: %q", stdout)
	return r.Payload.Data
}

// arqonKV runs `arqon kv args...` against url with token and returns the
// reply's data, failing unless it exits 0.
func arqonKV(t *testing.T, url, token string, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := testutil.RunArqon(t, []string{"ARQON_URL=" + url, "ARQON_TOKEN=" + token},
		append([]string{"kv"}, args...)...)
	require.Equal(t, 0, code, "arqon kv %v\nstdout: %s\nstderr: %s", args, stdout, stderr)
	return kvReply(t, stdout)
}

func kvSet(t *testing.T, c *client.Client, ns, key, value string) {
	t.Helper()
	testutil.Command(t, c, "op.store.set", map[string]any{"namespace": ns, "key": key, "value": json.RawMessage(value)})
}

func kvGet(t *testing.T, c *client.Client, ns, key string) map[string]any {
	t.Helper()
	return testutil.Command(t, c, "op.store.get", map[string]any{"namespace": ns, "key": key})
}

func kvList(t *testing.T, c *client.Client, ns string) []any {
	t.Helper()
	keys, _ := testutil.Command(t, c, "op.store.list", map[string]any{"namespace": ns})["keys"].([]any)
	return keys
}

func TestKVTenantsWithTheSameNamespaceAndKeyNeverSeeEachOthersValues(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"memory", func(*testing.T) []string { return authEnv() }},
		{"redis", func(t *testing.T) []string {
			// A Redis of its own: the binary's key prefix is fixed.
			return authEnv(redisEnv(redistest.RedisWithFaults(t).URL(), "strict")...)
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			p := testutil.RunBinary(t, backend.env(t))
			acmeToken, globexToken := token(t, "alice", "acme", "user"), token(t, "bob", "globex", "user")
			acme, globex := dialToken(t, p.URL, acmeToken), dialToken(t, p.URL, globexToken)
			kvSet(t, acme, "shared", "secret", `{"owner":"acme"}`)
			kvSet(t, globex, "shared", "secret", `{"owner":"globex"}`)
			kvSet(t, acme, "shared", "acme-only", `1`)
			kvSet(t, globex, "shared", "globex-only", `2`)

			t.Run("each tenant gets its own value of the same namespace and key", func(t *testing.T) {
				assert.Equal(t, map[string]any{"owner": "acme"}, kvGet(t, acme, "shared", "secret")["value"])
				assert.Equal(t, map[string]any{"owner": "globex"}, kvGet(t, globex, "shared", "secret")["value"])
				assert.Equal(t, false, kvGet(t, acme, "shared", "globex-only")["found"])
				assert.Equal(t, false, kvGet(t, globex, "shared", "acme-only")["found"])
			})

			t.Run("each tenant lists only its own keys", func(t *testing.T) {
				assert.Equal(t, []any{"acme-only", "secret"}, kvList(t, acme, "shared"))
				assert.Equal(t, []any{"globex-only", "secret"}, kvList(t, globex, "shared"))
			})

			t.Run("a namespace named like the other tenant is the caller's own", func(t *testing.T) {
				for _, ns := range []string{"globex", "globex:shared", "t:globex:shared"} {
					assert.Equal(t, false, kvGet(t, acme, ns, "secret")["found"], "namespace %q", ns)
					assert.Empty(t, kvList(t, acme, ns), "namespace %q", ns)
				}
			})

			t.Run("through arqon kv each tenant's token reaches only its own values", func(t *testing.T) {
				data := arqonKV(t, p.URL, acmeToken, "set", "secret", `"from the cli"`, "--namespace", "shared")
				assert.Equal(t, false, data["created"], "acme's key existed")
				assert.Equal(t, "from the cli", arqonKV(t, p.URL, acmeToken, "get", "secret", "--namespace", "shared")["value"])
				assert.Equal(t, map[string]any{"owner": "globex"},
					arqonKV(t, p.URL, globexToken, "get", "secret", "--namespace", "shared")["value"])
				assert.Equal(t, []any{"globex-only", "secret"}, arqonKV(t, p.URL, globexToken, "list", "--namespace", "shared")["keys"])
				assert.Equal(t, map[string]any{"owner": "globex"}, kvGet(t, globex, "shared", "secret")["value"],
					"a client of the other tenant still reads its own value")

				assert.Equal(t, true, arqonKV(t, p.URL, globexToken, "delete", "secret", "--namespace", "shared")["deleted"])
				assert.Equal(t, "from the cli", kvGet(t, acme, "shared", "secret")["value"], "acme's key outlives globex's delete")
				assert.Equal(t, []any{"acme-only", "secret"}, arqonKV(t, p.URL, acmeToken, "list", "--namespace", "shared")["keys"])
			})
		})
	}
}

func TestKVArqonExitsOneOnAnErrorReplyAndTwoOnAUsageMistake(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, authEnv())
	env := []string{"ARQON_URL=" + p.URL, "ARQON_TOKEN=" + token(t, "alice", "acme", "user")}

	code, stdout, _ := testutil.RunArqon(t, env, "kv", "set", "k", "1", "--namespace", "no spaces")
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "VALIDATION_ERROR", "the error reply is printed")

	code, stdout, stderr := testutil.RunArqon(t, env, "kv", "set", "k", "null")
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "usage: arqon [flags] kv set KEY JSON")
}
