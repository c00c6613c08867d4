package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Bounds of the op.store.* arguments.
const (
	defaultNamespace   = "default"
	maxNamespaceLen    = 128                // characters of [A-Za-z0-9_.:-]
	maxKeyBytes        = 256                // bytes of a key
	maxKVTTLSeconds    = 365 * 24 * 60 * 60 // one year, in seconds
	defaultKVListLimit = 100                // keys per op.store.list
	maxKVListLimit     = 1000               // keys per op.store.list
)

var (
	argKey       = Arg{Name: "key", Type: ArgString, Required: true, Description: fmt.Sprintf("1-%d bytes", maxKeyBytes)}
	argNamespace = Arg{Name: "namespace", Type: ArgString,
		Description: fmt.Sprintf("a space inside your tenant, 1-%d characters of A-Z a-z 0-9 _ . : -, default %q", maxNamespaceLen, defaultNamespace)}
)

// kvSpace reads the namespace argument into the caller's tenant: the
// tenant always comes from the caller, never from an argument. problems
// holds what is wrong with the namespace, for the caller to add to.
func (req *Request) kvSpace() (sp kv.Space, problems []string) {
	ns := defaultNamespace
	if req.Has("namespace") {
		ns = req.String("namespace")
	}
	if p := checkNamespace(ns); p != "" {
		problems = append(problems, p)
	}
	return kv.Space{Tenant: req.Caller.Tenant, Namespace: ns}, problems
}

func checkNamespace(ns string) string {
	if len(ns) < 1 || len(ns) > maxNamespaceLen {
		return fmt.Sprintf("args.namespace must be 1-%d characters", maxNamespaceLen)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return "args.namespace may hold only A-Z a-z 0-9 _ . : -"
		}
	}
	return ""
}

// kvKey reads the key with its space, reporting every problem at once.
func (req *Request) kvKey() (kv.Space, string, []string) {
	sp, problems := req.kvSpace()
	key := req.String("key")
	if len(key) < 1 || len(key) > maxKeyBytes {
		problems = append(problems, fmt.Sprintf("args.key must be 1-%d bytes", maxKeyBytes))
	}
	return sp, key, problems
}

func (r *Registry) kvStore() (kv.Store, error) {
	if r.deps.KV == nil {
		return nil, protocol.NewError(protocol.CodeFeatureDisabled, "the key-value store is not configured on this node")
	}
	return r.deps.KV, nil
}

// kvKeyStore is the start of a command on one key with no other argument:
// the key and its space, checked, then the store.
func (r *Registry) kvKeyStore(req *Request) (kv.Store, kv.Space, string, error) {
	sp, key, problems := req.kvKey()
	if len(problems) > 0 {
		return nil, sp, key, protocol.ValidationError(problems...)
	}
	s, err := r.kvStore()
	return s, sp, key, err
}

func (r *Registry) kvSet(ctx context.Context, req *Request) (string, any, error) {
	sp, key, problems := req.kvKey()
	value := bytes.TrimSpace(req.args["value"])
	if string(value) == "null" {
		problems = append(problems, "args.value must not be null (op.store.delete removes a key)")
	}
	ttl := req.Int("ttl_seconds", 0)
	if req.Has("ttl_seconds") && (ttl < 1 || ttl > maxKVTTLSeconds) {
		problems = append(problems, fmt.Sprintf("args.ttl_seconds must be 1-%d", maxKVTTLSeconds))
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	if lim := r.deps.KVLimits; lim.ValueTooLarge(len(value)) {
		return "", nil, protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"value is %d bytes, over %s (%d)", len(value), config.VarStoreMaxValueBytes, lim.MaxValueBytes))
	}
	s, err := r.kvStore()
	if err != nil {
		return "", nil, err
	}
	created, err := s.Set(ctx, sp, key, value, time.Duration(ttl)*time.Second)
	if err != nil {
		return "", nil, r.kvError(req, metrics.KVSet, err)
	}
	r.countKV(metrics.KVSet, metrics.KVOK)
	return "stored", map[string]any{"namespace": sp.Namespace, "key": key, "updated": true, "created": created}, nil
}

func (r *Registry) kvGet(ctx context.Context, req *Request) (string, any, error) {
	s, sp, key, err := r.kvKeyStore(req)
	if err != nil {
		return "", nil, err
	}
	v, found, err := s.Get(ctx, sp, key)
	if err != nil {
		return "", nil, r.kvError(req, metrics.KVGet, err)
	}
	data := map[string]any{"namespace": sp.Namespace, "key": key, "found": found}
	if !found {
		r.countKV(metrics.KVGet, metrics.KVMiss)
		return "not found", data, nil
	}
	r.countKV(metrics.KVGet, metrics.KVOK)
	data["value"] = json.RawMessage(v)
	return "found", data, nil
}

func (r *Registry) kvDelete(ctx context.Context, req *Request) (string, any, error) {
	s, sp, key, err := r.kvKeyStore(req)
	if err != nil {
		return "", nil, err
	}
	deleted, err := s.Delete(ctx, sp, key)
	if err != nil {
		return "", nil, r.kvError(req, metrics.KVDelete, err)
	}
	result, msg := metrics.KVOK, "deleted"
	if !deleted {
		result, msg = metrics.KVMiss, "not found"
	}
	r.countKV(metrics.KVDelete, result)
	return msg, map[string]any{"namespace": sp.Namespace, "key": key, "deleted": deleted}, nil
}

func (r *Registry) kvList(ctx context.Context, req *Request) (string, any, error) {
	sp, problems := req.kvSpace()
	limit := req.Int("limit", defaultKVListLimit)
	if limit < 1 || limit > maxKVListLimit {
		problems = append(problems, fmt.Sprintf("args.limit must be 1-%d", maxKVListLimit))
	}
	prefix := req.String("prefix")
	if len(prefix) > maxKeyBytes {
		problems = append(problems, fmt.Sprintf("args.prefix must be at most %d bytes", maxKeyBytes))
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	s, err := r.kvStore()
	if err != nil {
		return "", nil, err
	}
	keys, err := s.List(ctx, sp, prefix, int(limit))
	if err != nil {
		return "", nil, r.kvError(req, metrics.KVList, err)
	}
	r.countKV(metrics.KVList, metrics.KVOK)
	return fmt.Sprintf("%d keys", len(keys)), map[string]any{"namespace": sp.Namespace, "count": len(keys), "keys": keys}, nil
}

// countKV counts one key-value operation that reached the store.
func (r *Registry) countKV(op metrics.KVOp, result metrics.KVResult) {
	r.deps.Metrics.KVOperations.WithLabelValues(string(op), string(result)).Inc()
}

// kvError counts and logs a failed store call and turns it into the wire
// error: a limit names its variable, an unreachable backend is
// STORAGE_UNAVAILABLE (never a fallback: nodes would diverge), anything
// else stays internal (Handle logs it).
func (r *Registry) kvError(req *Request, op metrics.KVOp, err error) error {
	switch {
	case errors.Is(err, kv.ErrKeyLimit):
		r.countKV(op, metrics.KVLimit)
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"this tenant holds %s (%d) keys; delete some first", config.VarStoreMaxKeys, r.deps.KVLimits.MaxKeys))
	case errors.Is(err, kv.ErrValueTooLarge):
		r.countKV(op, metrics.KVLimit)
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"value is over %s (%d)", config.VarStoreMaxValueBytes, r.deps.KVLimits.MaxValueBytes))
	case errors.Is(err, kv.ErrUnavailable) || errors.Is(err, kv.ErrClosed):
		r.countKV(op, metrics.KVUnavailable)
		r.deps.Logger.Warn("key-value store unavailable", "client_id", req.Caller.ClientID, "op", "op.store."+string(op),
			"tenant", req.Caller.Tenant, "err", err)
		return protocol.NewError(protocol.CodeStorageUnavailable, "the key-value store is unavailable")
	default:
		r.countKV(op, metrics.KVError)
		return fmt.Errorf("op.store.%s: %w", op, err)
	}
}
