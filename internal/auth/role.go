package auth

import "fmt"

// Role orders what a client may do. The zero value is RoleGuest, the least
// privilege, so a forgotten assignment never grants more than it should.
type Role int

// Roles in increasing privilege; commands compare with >=.
const (
	RoleGuest Role = iota
	RoleUser
	// RoleOperator may also serve the work queue (operator.join).
	RoleOperator
	RoleAdmin
)

// String returns the claim spelling: "guest", "user", "operator" or "admin".
func (r Role) String() string {
	switch r {
	case RoleGuest:
		return "guest"
	case RoleUser:
		return "user"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole reads the claim spelling exactly (lower case, no spaces), the
// same way the verifier reads the role claim, so a CLI flag and a token can
// never disagree about what "Admin" means: it is an error.
func ParseRole(s string) (Role, error) {
	switch s {
	case "guest":
		return RoleGuest, nil
	case "user":
		return RoleUser, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleGuest, fmt.Errorf("unknown role %q (want guest, user, operator or admin)", s)
}

// MarshalText writes the claim spelling, so a Role encodes in JSON replies
// (whoami) as "user" rather than 1.
func (r Role) MarshalText() ([]byte, error) {
	switch r {
	case RoleGuest, RoleUser, RoleOperator, RoleAdmin:
		return []byte(r.String()), nil
	}
	return nil, fmt.Errorf("cannot encode invalid role %d", int(r))
}

// UnmarshalText reads the claim spelling with ParseRole.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
