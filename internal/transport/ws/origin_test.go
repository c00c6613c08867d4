package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A browser page served by the bus's own host may connect without being
// listed in AllowedOrigins; any other origin needs a listing.
func TestAnOriginOfTheBusHostIsAllowedWithoutAListing(t *testing.T) {
	s := NewServer(testOptions(nil))
	for _, c := range []struct {
		name   string
		origin string
		want   bool
	}{
		{"no origin: a non-browser client", "", true},
		{"the bus's own host", "https://bus.example", true},
		{"the bus's own host in other case", "https://BUS.example", true},
		{"another host", "https://app.example", false},
		{"an origin that does not parse", "https://bus.example/%zz", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://bus.example/ws", nil)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			assert.Equal(t, c.want, s.originAllowed(r))
		})
	}
}

// A refused origin up to the logging bound is logged whole; a longer one is
// cut to the bound and marked as cut.
func TestARefusedOriginIsLoggedWholeUpToTheBound(t *testing.T) {
	atBound := strings.Repeat("o", maxLoggedOrigin)
	assert.Equal(t, atBound, loggedOrigin(atBound))
	assert.Equal(t, atBound+"…", loggedOrigin(atBound+"o"))
}
