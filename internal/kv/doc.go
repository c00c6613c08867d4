// Package kv is the tenant key-value lane (op.store.*): a Store interface
// whose every call names the tenant and the namespace inside it, so no
// argument a client controls can reach another tenant's values. Backends:
// memkv (one node, in process) and rediskv (shared by all nodes); kvtest is
// the contract both meet.
//
// Concurrency: every Store is safe for concurrent use.
package kv
