package memstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// held is the model's view of one stored message.
type held struct {
	key  store.Key
	id   string
	size int
}

// model is what the store should hold, computed the slow, obvious way: a
// list of every message in append order from which each rule removes.
type model struct {
	maxPerKey   int
	node, share int
	ttl         time.Duration
	msgs        []held
	last        map[store.Key]time.Time
}

func (m *model) append(h held, now time.Time) {
	m.msgs = append(m.msgs, h)
	m.last[h.key] = now
	if n := m.count(func(o held) bool { return o.key == h.key }); n > m.maxPerKey {
		m.removeOldest(func(o held) bool { return o.key == h.key })
	}
	tenant := func(o held) bool { return o.key.Tenant == h.key.Tenant }
	for m.bytes(tenant) > m.share && m.count(tenant) > 1 {
		m.removeOldest(tenant)
	}
	all := func(held) bool { return true }
	for m.bytes(all) > m.node && len(m.msgs) > 1 {
		m.removeOldest(all)
	}
}

func (m *model) sweep(now time.Time) {
	m.msgs = slices.DeleteFunc(m.msgs, func(o held) bool { return now.Sub(m.last[o.key]) >= m.ttl })
}

func (m *model) count(f func(held) bool) int {
	n := 0
	for _, o := range m.msgs {
		if f(o) {
			n++
		}
	}
	return n
}

func (m *model) bytes(f func(held) bool) int {
	n := 0
	for _, o := range m.msgs {
		if f(o) {
			n += o.size
		}
	}
	return n
}

func (m *model) removeOldest(f func(held) bool) {
	i := slices.IndexFunc(m.msgs, f)
	m.msgs = slices.Delete(m.msgs, i, i+1)
}

func (m *model) ids(key store.Key) []string {
	ids := []string{}
	for _, o := range m.msgs {
		if o.key == key {
			ids = append(ids, o.id)
		}
	}
	return ids
}

func TestTheStoreHoldsWhatTheRulesLeaveAndCountsItExactly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clock := &fakeClock{now: storetest.Base}
		m := &model{
			maxPerKey: rapid.IntRange(1, 6).Draw(t, "maxPerKey"),
			node:      rapid.IntRange(1_000, 8_000).Draw(t, "node"),
			ttl:       time.Duration(rapid.IntRange(1, 10).Draw(t, "ttlMinutes")) * time.Minute,
			last:      map[store.Key]time.Time{},
		}
		m.share = rapid.IntRange(600, m.node).Draw(t, "share")
		s := memstore.NewWithOptions(memstore.Options{
			MaxPerKey: m.maxPerKey, MaxBytes: int64(m.node), TenantMaxBytes: int64(m.share), TTL: m.ttl,
			Clock: clock.Now,
		})
		defer s.Close()
		var keys []store.Key
		for _, tenant := range []string{"a", "b", "c"} {
			for room := range 3 {
				keys = append(keys, roomKey(tenant, room))
			}
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := range steps {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0:
				clock.Advance(time.Duration(rapid.IntRange(0, 5).Draw(t, "minutes")) * time.Minute)
			case 1:
				s.Sweep()
				m.sweep(clock.Now())
			default:
				k := rapid.SampledFrom(keys).Draw(t, "key")
				size := rapid.IntRange(600, 3_000).Draw(t, "size")
				id := fmt.Sprintf("m%d", i)
				if err := s.Append(context.Background(), k, sized(k, id, size)); err != nil {
					t.Fatal(err)
				}
				m.append(held{key: k, id: id, size: size}, clock.Now())
			}
			streams := int64(0)
			tenantBytes, tenantCount, tenantStreams := map[string]int{}, map[string]int{}, map[string]int64{}
			for _, k := range keys {
				p, err := s.History(context.Background(), k, store.Query{Limit: store.MaxHistoryLimit})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := storetest.IDs(p.Messages), m.ids(k); !slices.Equal(got, want) {
					t.Fatalf("step %d: %v holds %v, want %v", i, k, got, want)
				}
				if len(p.Messages) > 0 {
					streams++
					tenantStreams[k.Tenant]++
				}
				for i := range p.Messages {
					tenantBytes[k.Tenant] += store.Size(&p.Messages[i])
					tenantCount[k.Tenant]++
				}
			}
			for _, tenant := range []string{"a", "b", "c"} {
				gotStreams, gotBytes := s.Tenant(tenant)
				if gotStreams != tenantStreams[tenant] || gotBytes != int64(tenantBytes[tenant]) {
					t.Fatalf("step %d: Tenant(%s) = %d streams, %d bytes; it holds %d, %d",
						i, tenant, gotStreams, gotBytes, tenantStreams[tenant], tenantBytes[tenant])
				}
			}
			for tenant, n := range tenantBytes {
				if n > m.share && tenantCount[tenant] > 1 {
					t.Fatalf("step %d: tenant %s holds %d bytes in %d messages, over its share %d", i, tenant, n, tenantCount[tenant], m.share)
				}
			}
			all := func(held) bool { return true }
			if got, want := s.Bytes(), int64(m.bytes(all)); got != want {
				t.Fatalf("step %d: Bytes() = %d, held messages add up to %d", i, got, want)
			}
			if got := s.Messages(); got != int64(len(m.msgs)) {
				t.Fatalf("step %d: Messages() = %d, want %d", i, got, len(m.msgs))
			}
			if got := s.Streams(); got != streams {
				t.Fatalf("step %d: Streams() = %d, but %d keys hold messages", i, got, streams)
			}
			if s.Bytes() > int64(m.node) && s.Messages() > 1 {
				t.Fatalf("step %d: %d bytes in %d messages passes the node budget %d", i, s.Bytes(), s.Messages(), m.node)
			}
		}
	})
}
