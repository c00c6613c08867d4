package regression

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// The original key-value lane scoped keys by tenant only when no namespace
// was given: an explicit namespace was used as the whole scope, so tenant
// acme passing namespace "globex" (or whatever globex's namespace was) read,
// listed, overwrote and deleted globex's keys. Now the tenant always comes
// from the caller's identity and the namespace is only a space inside it,
// on both backends (SPEC §11.3).
func TestRegression_AnExplicitNamespaceNeverReachesAnotherTenant(t *testing.T) {
	backends := map[string]func(t *testing.T) testutil.Option{
		"memory": func(*testing.T) testutil.Option { return testutil.WithConfig(func(*config.Config) {}) },
		"redis": func(t *testing.T) testutil.Option {
			return testutil.WithRedis("redis://"+redistest.MiniRedis(t).Addr(), config.ModeDegraded)
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			s := testutil.StartServer(t, testutil.WithAuth(secret), backend(t))
			dial := func(tenant string) *client.Client {
				return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, testutil.Claims("u-"+tenant, tenant, "user"))})
			}
			globex, acme := dial("globex"), dial("acme")
			testutil.Command(t, globex, "op.store.set", map[string]any{"key": "secret", "value": "globex's", "namespace": "globex"})
			testutil.Command(t, globex, "op.store.set", map[string]any{"key": "secret", "value": "globex's"})

			for _, ns := range []string{"globex", "default", "globex:default", "globex:globex", "..", "acme:globex"} {
				got := testutil.Command(t, acme, "op.store.get", map[string]any{"key": "secret", "namespace": ns})
				assert.Equal(t, false, got["found"], "namespace %q reached globex", ns)
				listed := testutil.Command(t, acme, "op.store.list", map[string]any{"namespace": ns})
				assert.Empty(t, listed["keys"], "namespace %q listed globex's keys", ns)
				del := testutil.Command(t, acme, "op.store.delete", map[string]any{"key": "secret", "namespace": ns})
				assert.Equal(t, false, del["deleted"], "namespace %q deleted globex's key", ns)
				testutil.Command(t, acme, "op.store.set", map[string]any{"key": "secret", "value": "acme's", "namespace": ns})
			}
			for _, args := range []map[string]any{{"key": "secret", "namespace": "globex"}, {"key": "secret"}} {
				got := testutil.Command(t, globex, "op.store.get", args)
				require.Equal(t, true, got["found"], "%v", args)
				var v string
				raw, _ := json.Marshal(got["value"])
				require.NoError(t, json.Unmarshal(raw, &v))
				assert.Equal(t, "globex's", v, fmt.Sprintf("acme overwrote globex's %v", args))
			}
			// The tenant field of a frame is not a way in either.
			r := testutil.Request(t, acme, &protocol.Envelope{ID: "kv-tenant", Type: protocol.TypeCommand, Command: "op.store.get",
				Args: json.RawMessage(`{"key":"secret","namespace":"globex","tenant_id":"globex"}`)})
			assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode, "an unknown tenant argument is refused")
		})
	}
}
