package auth

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClaimTextThatDecodingWouldAlterIsRefused: encoding/json replaces
// invalid UTF-8 and lone surrogate escapes with U+FFFD, which would merge
// distinct sub or tenant_id spellings into one identity. Each spelling is
// refused with the claim's own reason; a surrogate pair is one real
// character and passes.
func TestClaimTextThatDecodingWouldAlterIsRefused(t *testing.T) {
	v := hsVerifier(t, nil)
	exp := strconv.FormatInt(int64(unix(time.Hour)), 10)
	token := func(sub, tenant, role string) string {
		return rawHS256(`{"alg":"HS256","typ":"JWT"}`,
			`{"sub":`+sub+`,"tenant_id":`+tenant+`,"role":`+role+`,"exp":`+exp+`}`, []byte(testSecret))
	}
	cases := []struct {
		name, sub, tenant, role, reason string
	}{
		{"a lone high surrogate in tenant_id", `"a"`, `"zz\ud800"`, `"user"`, ReasonBadTenant},
		{"the other end of the high range in tenant_id", `"a"`, `"zz\udbff"`, `"user"`, ReasonBadTenant},
		{"a lone low surrogate in tenant_id", `"a"`, `"\udfffzz"`, `"user"`, ReasonBadTenant},
		{"a low surrogate before a high one in tenant_id", `"a"`, `"\udc00\ud800"`, `"user"`, ReasonBadTenant},
		{"a high surrogate followed by a letter in tenant_id", `"a"`, `"\ud800\u0041"`, `"user"`, ReasonBadTenant},
		{"an invalid byte in tenant_id", `"a"`, "\"zz\xff\"", `"user"`, ReasonBadTenant},
		{"an overlong encoding in tenant_id", `"a"`, "\"zz\xc0\xaf\"", `"user"`, ReasonBadTenant},
		{"an encoded surrogate in tenant_id", `"a"`, "\"zz\xed\xa0\x80\"", `"user"`, ReasonBadTenant},
		{"a replacement character in tenant_id", `"a"`, `"zz\ufffd"`, `"user"`, ReasonBadTenant},
		{"a lone surrogate in sub", `"al\ud800ice"`, `"acme"`, `"user"`, ReasonBadSub},
		{"an invalid byte in sub", "\"al\x80ice\"", `"acme"`, `"user"`, ReasonBadSub},
		{"a lone surrogate in role", `"a"`, `"acme"`, `"user\ud800"`, ReasonBadRole},
		{"an invalid byte in role", `"a"`, `"acme"`, "\"admin\xff\"", ReasonBadRole},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(token(tc.sub, tc.tenant, tc.role))
			assert.Equal(t, tc.reason, failureReason(t, err), "error: %v", err)
		})
	}

	// Controls: the same shape with well-formed text is accepted, so the
	// refusals above are about the encoding alone.
	id, err := v.Verify(token(`"al\u0069ce"`, `"zz\ud83d\ude00"`, `"\u0061dmin"`))
	require.NoError(t, err)
	assert.Equal(t, Identity{Subject: "alice", Tenant: "zz\U0001F600", Role: RoleAdmin, ExpiresAt: id.ExpiresAt}, id)
	id, err = v.Verify(token(`"b"`, "\"caf\xc3\xa9\"", `"user"`))
	require.NoError(t, err)
	assert.Equal(t, "café", id.Tenant)
}
