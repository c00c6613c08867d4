package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
)

// token mints a development token with the configured HMAC secret, or with
// "check" explains what the configured verifier makes of a token.
func token(env Env, args []string) int {
	if len(args) > 0 && args[0] == "check" {
		return tokenCheck(env, args[1:])
	}
	fs := flag.NewFlagSet("arqonbus token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sub := fs.String("sub", "dev-user", "subject (sub claim)")
	tenant := fs.String("tenant", "", "tenant (tenant_id claim)")
	role := fs.String("role", "user", "role: guest, user, operator or admin")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (exp = now + ttl)")
	alg := fs.String("alg", "HS256", "HMAC algorithm: HS256, HS384 or HS512")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			tokenUsage(env.Stdout, fs)
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "arqonbus token: %v\n", err)
		tokenUsage(env.Stderr, fs)
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "arqonbus token: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		tokenUsage(env.Stderr, fs)
		return exitConfig
	}
	cfg, code := load(env, nil)
	if cfg == nil {
		return code
	}
	if cfg.AuthJWTSecret == "" {
		fmt.Fprintln(env.Stderr, "arqonbus token: set "+config.VarAuthJWTSecret+" to mint a token")
		return exitConfig
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		fmt.Fprintf(env.Stderr, "arqonbus token: --role: %v\n", err)
		return exitConfig
	}
	tok, err := auth.Mint(cfg.AuthJWTSecret, *alg, auth.MintClaims{
		Subject: *sub, Tenant: *tenant, Role: r, TTL: *ttl,
		Issuer: cfg.AuthIssuer, Audience: cfg.AuthAudience,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "arqonbus token: %v\n", err)
		return exitConfig
	}
	fmt.Fprintln(env.Stdout, tok)
	return exitOK
}

// tokenUsage prints the token subcommand's help with fs's flags.
func tokenUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `usage: arqonbus token [--sub S] [--tenant T] [--role R] [--ttl D] [--alg A]
       arqonbus token check <jwt>
Mints a development token signed with ARQONBUS_AUTH_JWT_SECRET and prints it,
or (check) explains whether the configured verifier accepts a token: exit 0
accepted, 1 refused, 2 configuration problem.
Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

const tokenCheckUsage = "usage: arqonbus token check <jwt>   (exit 0 accepted, 1 refused, 2 configuration problem)"

func tokenCheck(env Env, args []string) int {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, tokenCheckUsage)
		return exitOK
	}
	if len(args) != 1 {
		fmt.Fprintln(env.Stderr, tokenCheckUsage)
		return exitConfig
	}
	cfg, code := load(env, nil)
	if cfg == nil {
		return code
	}
	v, err := auth.NewVerifier(authOptions(cfg, time.Now))
	if err != nil {
		fmt.Fprintf(env.Stderr, "arqonbus token check: %v\n", err)
		return exitConfig
	}
	fmt.Fprintln(env.Stdout, auth.Explain(v, args[0]))
	if _, err := v.Verify(args[0]); err != nil {
		return exitFailure
	}
	return exitOK
}
