package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/arqonbus/arqonbus/internal/config"
)

// MaxLeeway is the largest clock skew Options.Leeway may allow (300 s): more
// would let an expired token live on for minutes.
const MaxLeeway = 300 * time.Second

// Identity is who a verified token speaks for. Tenant is "" when the token
// has no tenant_id and none is required.
type Identity struct {
	Subject string
	Tenant  string
	Role    Role
	// ExpiresAt is the instant the verifier stops accepting the token: its
	// exp claim plus the leeway. The transport closes the connection with
	// 4001 at this instant, so a connection never outlives a token Verify
	// would still accept, nor dies at once for a token Verify just accepted.
	// The zero time means never (only for identities made without a token,
	// e.g. when authentication is off).
	ExpiresAt time.Time
}

// Options configures a Verifier; each field is the ARQONBUS_AUTH_* setting
// of the same name. Set Secret for the HS* algorithms, or one of
// PublicKeyFile and JWKSFile for the asymmetric ones. The two kinds never
// mix: with a public key source set, Secret is not used and no HS*
// algorithm may be listed.
type Options struct {
	// Secret is the HMAC key (ARQONBUS_AUTH_JWT_SECRET).
	Secret string
	// PublicKeyFile is a PEM public key or certificate
	// (ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE).
	PublicKeyFile string
	// JWKSFile is a JWK set; tokens choose a key by kid
	// (ARQONBUS_AUTH_JWKS_FILE).
	JWKSFile string
	// Algorithms is the allow-list, matched exactly against the token's
	// alg (ARQONBUS_AUTH_JWT_ALGORITHMS); empty means ["HS256"].
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat, 0..MaxLeeway
	// (ARQONBUS_AUTH_LEEWAY).
	Leeway time.Duration
	// Issuer, when set, must equal the iss claim (ARQONBUS_AUTH_ISSUER).
	Issuer string
	// Audience, when set, must appear in the aud claim
	// (ARQONBUS_AUTH_AUDIENCE).
	Audience string
	// RequireTenant refuses tokens without a non-empty tenant_id
	// (ARQONBUS_AUTH_REQUIRE_TENANT).
	RequireTenant bool
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Verifier checks tokens against keys loaded once by NewVerifier. It is
// immutable and safe for concurrent use.
type Verifier struct {
	allowed       map[string]algSpec
	allowList     []string
	source        keySource                   // where the keys came from
	single        *verificationKey            // the secret or the PEM key
	byKid         map[string]*verificationKey // JWKS keys with a kid
	only          *verificationKey            // the JWKS key used when a token has no kid
	keyCount      int                         // usable keys (JWKS)
	parser        *jwt.Parser
	leeway        time.Duration
	issuer        string
	audience      string
	requireTenant bool
	now           func() time.Time
}

// NewVerifier loads and checks the key once and returns a Verifier, or every
// problem found, one per line, each naming the ARQONBUS_* variable to fix.
// Checking at startup is what lets the server refuse to bind with a
// configuration that could never verify a token. It fails closed: no key,
// both a PEM key and a JWK set, an unknown or "none" algorithm, an
// allow-list that does not fit the key (an HMAC algorithm beside a public
// key is algorithm confusion; an asymmetric one with only a secret can never
// verify), a private key where a public one belongs, or a leeway outside
// 0..300 s are all errors.
func NewVerifier(o Options) (*Verifier, error) {
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if o.Leeway < 0 || o.Leeway > MaxLeeway {
		add("%s must be between 0s and %s, got %s", config.VarAuthLeeway, MaxLeeway, o.Leeway)
	}

	names := o.Algorithms
	if len(names) == 0 {
		names = []string{"HS256"}
	}
	v := &Verifier{
		allowed:       make(map[string]algSpec),
		leeway:        o.Leeway,
		issuer:        o.Issuer,
		audience:      o.Audience,
		requireTenant: o.RequireTenant,
		now:           o.Clock,
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, n := range names {
		if _, dup := v.allowed[n]; dup {
			continue
		}
		a, ok := algorithms[n]
		switch {
		case ok:
			v.allowed[n] = a
			v.allowList = append(v.allowList, n)
		case strings.EqualFold(strings.TrimSpace(n), "none"):
			add("%s: %q is never accepted: an unsigned token proves nothing", config.VarAuthJWTAlgorithms, n)
		default:
			add("%s: %q is not a supported algorithm%s; supported: %s",
				config.VarAuthJWTAlgorithms, n, didYouMean(n), strings.Join(algorithmNames, ", "))
		}
	}

	// A public key source puts the verifier in asymmetric mode: the secret,
	// if also set, is never used, because HMAC algorithms are never
	// accepted beside a public key.
	switch {
	case o.PublicKeyFile != "" && o.JWKSFile != "":
		add("set only one of %s and %s", config.VarAuthJWTPublicKeyFile, config.VarAuthJWKSFile)
	case o.PublicKeyFile != "":
		v.source = sourcePublicKeyFile
	case o.JWKSFile != "":
		v.source = sourceJWKS
	case o.Secret != "":
		v.source = sourceSecret
	default:
		add("no verification key: set %s, %s or %s", config.VarAuthJWTSecret, config.VarAuthJWTPublicKeyFile, config.VarAuthJWKSFile)
	}
	if v.source != sourceNone {
		problems = append(problems, v.loadKeys(o)...)
	}

	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.allowList),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// didYouMean suggests the exact spelling of a near miss such as "hs256".
func didYouMean(n string) string {
	for _, known := range algorithmNames {
		if strings.EqualFold(known, strings.TrimSpace(n)) {
			return fmt.Sprintf(" (names are matched exactly: did you mean %s?)", known)
		}
	}
	return ""
}

// loadKeys loads the one configured key source and checks the allow-list
// against it. It only reports problems; v is used only when there are none.
func (v *Verifier) loadKeys(o Options) []error {
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	switch v.source {
	case sourceSecret:
		v.single = &verificationKey{kind: kindHMAC, key: []byte(o.Secret)}
		for _, n := range v.allowList {
			if a := v.allowed[n]; a.kind != kindHMAC {
				add("%s: %s needs a public key (%s or %s); with %s list only HS256, HS384 or HS512",
					config.VarAuthJWTAlgorithms, n, config.VarAuthJWTPublicKeyFile, config.VarAuthJWKSFile, config.VarAuthJWTSecret)
			}
		}
	case sourcePublicKeyFile:
		k, err := loadPEMKey(o.PublicKeyFile)
		if err != nil {
			return []error{err}
		}
		v.single = k
		for _, n := range v.allowList {
			a := v.allowed[n]
			switch {
			case a.kind == kindHMAC:
				add("%s: %s is an HMAC algorithm and is never accepted with %s (algorithm confusion); for this %s list %s",
					config.VarAuthJWTAlgorithms, n, config.VarAuthJWTPublicKeyFile, k.describe(), strings.Join(fittingAlgorithms(k), ", "))
			case k.fits(a) != "":
				add("%s: %s does not fit the %s in %s; for this key list %s",
					config.VarAuthJWTAlgorithms, n, k.describe(), config.VarAuthJWTPublicKeyFile, strings.Join(fittingAlgorithms(k), ", "))
			}
		}
	case sourceJWKS:
		keys, err := loadJWKS(o.JWKSFile)
		if err != nil {
			return []error{err}
		}
		// Keep only keys some allowed algorithm can use.
		var usable []*verificationKey
		for _, k := range keys {
			for _, n := range v.allowList {
				if k.fits(v.allowed[n]) == "" {
					usable = append(usable, k)
					break
				}
			}
		}
		for _, n := range v.allowList {
			a := v.allowed[n]
			if a.kind == kindHMAC {
				add("%s: %s is an HMAC algorithm and is never accepted with %s (algorithm confusion)", config.VarAuthJWTAlgorithms, n, config.VarAuthJWKSFile)
				continue
			}
			found := false
			for _, k := range usable {
				found = found || k.fits(a) == ""
			}
			if !found {
				add("%s: %s fits no signing key in %s", config.VarAuthJWTAlgorithms, n, config.VarAuthJWKSFile)
			}
		}
		if len(problems) > 0 {
			return problems
		}
		if len(usable) == 0 {
			add("%s: no signing key in the set can be used with %s=%s", config.VarAuthJWKSFile, config.VarAuthJWTAlgorithms, strings.Join(v.allowList, ","))
			return problems
		}
		v.keyCount = len(usable)
		v.byKid = make(map[string]*verificationKey)
		for _, k := range usable {
			if k.kid == "" {
				if len(usable) > 1 {
					add("%s: every key needs a kid when the set holds more than one usable key", config.VarAuthJWKSFile)
					return problems
				}
				continue
			}
			if _, dup := v.byKid[k.kid]; dup {
				add("%s: kid %q is used by more than one key", config.VarAuthJWKSFile, k.kid)
				continue
			}
			v.byKid[k.kid] = k
		}
		if len(usable) == 1 {
			v.only = usable[0]
		}
	}
	return problems
}

// fittingAlgorithms lists the algorithms a key can verify, for messages.
func fittingAlgorithms(k *verificationKey) []string {
	var out []string
	for _, n := range algorithmNames {
		if k.fits(algorithms[n]) == "" {
			out = append(out, n)
		}
	}
	return out
}

// Algorithms returns the allow-list in effect, for startup logs.
func (v *Verifier) Algorithms() []string { return append([]string(nil), v.allowList...) }

// Leeway returns the clock skew allowed on exp, nbf and iat.
func (v *Verifier) Leeway() time.Duration { return v.leeway }
