package regression

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The connection cap used to be global only. With
// ARQONBUS_MAX_CONNECTIONS=50, fifty guest connections of one tenant took
// every place, and a different tenant's admin got HTTP 503 at the
// handshake: one tenant could lock every other out of the node. Each
// tenant now has its share (ARQONBUS_MAX_CONNECTIONS_PER_TENANT): the
// guests stop at it with 503 tenant_cap, and the other tenant's admin
// still connects and is served.
func TestRegression_OneTenantsGuestsNoLongerLockOtherTenantsOut(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret), testutil.WithConfig(func(c *config.Config) {
		c.MaxConnections, c.MaxConnectionsPerTenant = 50, 25
	}))
	dial := func(sub, tenant, role string) (*client.Client, error) {
		c, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: testutil.Token(t, secret, testutil.Claims(sub, tenant, role))})
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
		return c, err
	}
	guests := 0
	for i := range 50 { // what used to fill the node
		if _, err := dial("guest-"+strconv.Itoa(i), "noisy", "guest"); err != nil {
			var he *client.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, http.StatusServiceUnavailable, he.Status)
			assert.Contains(t, he.Body, "ARQONBUS_MAX_CONNECTIONS_PER_TENANT")
			continue
		}
		guests++
	}
	assert.Equal(t, 25, guests, "the noisy tenant stops at its share")
	assert.Equal(t, 25.0, s.Counter(t, "connections_rejected_total", "tenant_cap"))

	admin, err := dial("root", "quiet", "admin")
	require.NoError(t, err, "the other tenant's admin connects")
	assert.Equal(t, "admin", testutil.Command(t, admin, "whoami", nil)["role"], "and is served")
}
