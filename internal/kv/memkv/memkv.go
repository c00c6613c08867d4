// Package memkv is the in-process kv.Store: one node, lost on restart. An
// expired key is dropped when it is read, listed or its tenant is counted,
// and a tenant at its key limit sweeps all its namespaces before refusing
// a new key, so expired keys never count against the limit. Besides, each
// write sweeps its own tenant and one other (the map's pick) once their
// earliest expiry has passed, at most once per sweepEvery each, so expired
// keys nobody reads do not stay for ever.
//
// Concurrency: one mutex guards the maps; values are copied in and out.
package memkv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/kv"
)

var _ kv.Store = (*Store)(nil)

type entry struct {
	value   []byte
	expires time.Time // zero: never
}

type tenant struct {
	keys     int                         // entries held, expired ones until swept
	spaces   map[string]map[string]entry // namespace -> key -> entry
	earliest time.Time                   // no entry expires before it; zero: none expires
	swept    time.Time                   // the last sweep
}

// sweepEvery is the least time between two write-driven sweeps of one
// tenant (each walks all its keys).
const sweepEvery = time.Second

// Store is the memory backend.
type Store struct {
	limits kv.Limits
	clock  func() time.Time

	mu      sync.Mutex
	closed  bool
	tenants map[string]*tenant
}

// Options configure a Store.
type Options struct {
	Limits kv.Limits
	// Clock reads the time expiries compare with. Default time.Now.
	Clock func() time.Time
}

// New returns an empty Store.
func New(o Options) *Store {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Store{limits: o.Limits, clock: o.Clock, tenants: map[string]*tenant{}}
}

func (e entry) expired(now time.Time) bool { return !e.expires.IsZero() && !now.Before(e.expires) }

// Set implements kv.Store.
func (s *Store) Set(_ context.Context, sp kv.Space, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := s.limits.CheckValue(key, len(value)); err != nil {
		return false, err
	}
	now := s.clock()
	e := entry{value: slices.Clone(value)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, fmt.Errorf("set: %w", kv.ErrClosed)
	}
	s.sweepOne(now, sp.Tenant)
	t := s.tenants[sp.Tenant]
	if t == nil {
		t = &tenant{spaces: map[string]map[string]entry{}}
		s.tenants[sp.Tenant] = t
	}
	t.maybeSweep(now)
	ns := t.spaces[sp.Namespace]
	old, exists := ns[key]
	if exists && old.expired(now) {
		delete(ns, key)
		t.keys--
		exists = false
	}
	if !exists && s.atLimit(t) {
		t.sweep(now)
		if s.atLimit(t) {
			s.dropIfEmpty(sp.Tenant, t)
			return false, s.limits.KeyLimitError(key)
		}
		ns = t.spaces[sp.Namespace]
	}
	if ns == nil {
		ns = map[string]entry{}
		t.spaces[sp.Namespace] = ns
	}
	ns[key] = e
	if !exists {
		t.keys++
	}
	if !e.expires.IsZero() && (t.earliest.IsZero() || e.expires.Before(t.earliest)) {
		t.earliest = e.expires
	}
	return !exists, nil
}

// Get implements kv.Store.
func (s *Store) Get(_ context.Context, sp kv.Space, key string) ([]byte, bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, fmt.Errorf("get: %w", kv.ErrClosed)
	}
	t := s.tenants[sp.Tenant]
	if t == nil {
		return nil, false, nil
	}
	e, ok := t.spaces[sp.Namespace][key]
	if !ok {
		return nil, false, nil
	}
	if e.expired(now) {
		s.remove(sp, t, key)
		return nil, false, nil
	}
	return slices.Clone(e.value), true, nil
}

// Delete implements kv.Store.
func (s *Store) Delete(_ context.Context, sp kv.Space, key string) (bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, fmt.Errorf("delete: %w", kv.ErrClosed)
	}
	t := s.tenants[sp.Tenant]
	if t == nil {
		return false, nil
	}
	e, ok := t.spaces[sp.Namespace][key]
	if !ok {
		return false, nil
	}
	s.remove(sp, t, key)
	return !e.expired(now), nil
}

// List implements kv.Store.
func (s *Store) List(_ context.Context, sp kv.Space, prefix string, limit int) ([]string, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("list: %w", kv.ErrClosed)
	}
	keys := []string{}
	t := s.tenants[sp.Tenant]
	if t == nil {
		return keys, nil
	}
	for k, e := range t.spaces[sp.Namespace] {
		if e.expired(now) {
			s.remove(sp, t, k) // deleting during range is allowed
			continue
		}
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return kv.Page(keys, limit), nil
}

// Count implements kv.Store.
func (s *Store) Count(_ context.Context, tenantID string) (int, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("count: %w", kv.ErrClosed)
	}
	t := s.tenants[tenantID]
	if t == nil {
		return 0, nil
	}
	t.sweep(now)
	n := t.keys
	s.dropIfEmpty(tenantID, t)
	return n, nil
}

// Keys returns the entries held over all tenants, expired ones not yet
// swept included: what the store costs in memory.
func (s *Store) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tenants {
		n += t.keys
	}
	return n
}

// Close implements kv.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.tenants = map[string]*tenant{}
	return nil
}

// remove deletes key from sp and drops maps left empty. s.mu is held.
func (s *Store) remove(sp kv.Space, t *tenant, key string) {
	ns := t.spaces[sp.Namespace]
	delete(ns, key)
	t.keys--
	if len(ns) == 0 {
		delete(t.spaces, sp.Namespace)
	}
	s.dropIfEmpty(sp.Tenant, t)
}

func (s *Store) dropIfEmpty(id string, t *tenant) {
	if t.keys == 0 {
		delete(s.tenants, id)
	}
}

// sweepOne gives one tenant other than skip (the map's pick) its
// write-driven sweep. s.mu is held.
func (s *Store) sweepOne(now time.Time, skip string) {
	for id, t := range s.tenants {
		if id == skip {
			continue
		}
		t.maybeSweep(now)
		s.dropIfEmpty(id, t)
		return
	}
}

// maybeSweep sweeps t when a key may have expired and the last sweep is
// sweepEvery old. s.mu is held.
func (t *tenant) maybeSweep(now time.Time) {
	if t.earliest.IsZero() || now.Before(t.earliest) || now.Sub(t.swept) < sweepEvery {
		return
	}
	t.sweep(now)
}

// sweep drops every expired entry of the tenant. s.mu is held.
func (t *tenant) sweep(now time.Time) {
	t.swept, t.earliest = now, time.Time{}
	for name, ns := range t.spaces {
		for k, e := range ns {
			if e.expired(now) {
				delete(ns, k)
				t.keys--
				continue
			}
			if !e.expires.IsZero() && (t.earliest.IsZero() || e.expires.Before(t.earliest)) {
				t.earliest = e.expires
			}
		}
		if len(ns) == 0 {
			delete(t.spaces, name)
		}
	}
}

func (s *Store) atLimit(t *tenant) bool { return s.limits.MaxKeys > 0 && t.keys >= s.limits.MaxKeys }
