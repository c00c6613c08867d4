// Package auth verifies the JSON Web Tokens that clients present at the
// WebSocket handshake and maps their claims to an Identity (subject, tenant,
// role).
//
// It is the bus's shield: every rule of the authentication contract (SPEC §5)
// lives here so that the transport only has to call TokenFromRequest, then
// Verifier.Verify, and answer with WriteHandshakeError on failure.
//
// Keys are loaded and checked once, by NewVerifier, so that a configuration
// that could never verify a token stops the server before it binds a port.
// A Verifier is immutable afterwards and safe for concurrent use by any
// number of goroutines. The clock is injected through Options.Clock so that
// tests and the token CLI can reason about time without sleeping.
//
// Errors returned by this package never contain the token itself; a
// Failure carries a short, stable Reason for metrics and logs.
// Messages name the ARQONBUS_* variable an operator changes; the names come
// from config, which owns them.
package auth
