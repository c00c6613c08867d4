// Package protocol is the wire format (SPEC §1): the Envelope, its codec with
// hard limits, validation, error and close codes, and the reply builders. It
// imports nothing of ours, so it can be fuzzed on its own.
//
// Decoding has two paths with one contract. The fast path (splitObject in
// scan.go) splits a frame that is valid UTF-8, one JSON object, and nested
// within Limits.MaxDepth into its top-level members by hand, with no
// reflection and almost no allocation. Anything it does not accept goes to
// the slow path (membersOf), which checks the frame, decodes it with
// encoding/json and says why a frame is not a JSON object Decode can read.
// Both feed the same field decoder, so for every frame Decode must return exactly what
// the straightforward encoding/json decoder, decodeReference, returns: the
// same envelope and the same error, with a known field given twice refused
// and no memory shared with the caller's buffer. The fast path exists only
// for speed and may never change an answer.
//
// Two tests hold it to that: TestDecodeMatchesReference and
// FuzzDecodeMatchesReference (decode_diff_test.go) run both decoders on
// hand-picked and fuzzed frames under several limits and fail on any
// difference. BenchmarkDecode against BenchmarkDecodeReference (bench_test.go)
// is what justifies keeping a second path: on the typical room message the
// fast path is several times faster and allocates a few objects instead of
// dozens (go test -run '^$' -bench Decode ./internal/protocol).
//
// Concurrency: everything here is safe for concurrent use; Decode and the
// encoders keep no state between calls.
package protocol
