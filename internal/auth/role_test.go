package auth

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRolesAreOrderedFromGuestToAdmin(t *testing.T) {
	assert.Less(t, RoleGuest, RoleUser)
	assert.Less(t, RoleUser, RoleOperator)
	assert.Less(t, RoleOperator, RoleAdmin)
	assert.Equal(t, RoleGuest, Role(0), "the zero role must be the least privilege")
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Role
		ok   bool
	}{
		{"guest is read exactly", "guest", RoleGuest, true},
		{"user is read exactly", "user", RoleUser, true},
		{"operator is read exactly", "operator", RoleOperator, true},
		{"admin is read exactly", "admin", RoleAdmin, true},
		{"a capitalised operator is refused", "Operator", RoleGuest, false},
		{"a capitalised role is refused", "Admin", RoleGuest, false},
		{"an upper-case role is refused", "USER", RoleGuest, false},
		{"a role with spaces is refused", " user", RoleGuest, false},
		{"an empty role is refused", "", RoleGuest, false},
		{"an unknown role is refused", "root", RoleGuest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if !tt.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String(), "String must round-trip the claim spelling")
		})
	}
}

func TestRoleEncodesAsItsNameInJSON(t *testing.T) {
	b, err := json.Marshal(map[string]Role{"role": RoleAdmin})
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"admin"}`, string(b))

	var back map[string]Role
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, RoleAdmin, back["role"])

	require.Error(t, json.Unmarshal([]byte(`{"role":"root"}`), &back))
	_, err = Role(7).MarshalText()
	require.Error(t, err, "an out-of-range role must not encode")
	assert.Equal(t, "Role(7)", Role(7).String())
}
