package bus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walkTenant counts one tenant's clients, rooms and pairs and lists its
// pairs the slow way, from the maps themselves.
func walkTenant(h *Hub, tenant string) (clients, rooms int, pairs []ChannelInfo) {
	h.EachClient(func(tn, _ string) {
		if tn == tenant {
			clients++
		}
	})
	seen := map[string]bool{}
	for i := range h.topics {
		s := &h.topics[i]
		s.mu.RLock()
		for t, tp := range s.topics {
			if t.Tenant == tenant {
				seen[t.Room] = true
				pairs = append(pairs, ChannelInfo{Room: t.Room, Channel: t.Channel, Members: len(*tp.members.Load())})
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(pairs, func(a, b ChannelInfo) int {
		return comparePairs(Pair{a.Room, a.Channel}, Pair{b.Room, b.Channel})
	})
	return clients, len(seen), pairs
}

// pageAll walks tenant's pairs (of room) page by page with limit.
func pageAll(t *testing.T, h *Hub, tenant, room string, limit int) []ChannelInfo {
	t.Helper()
	var out []ChannelInfo
	q := ChannelQuery{Tenant: tenant, Room: room, Limit: limit}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100000, "paging ends")
		p := h.ListChannels(q)
		require.LessOrEqual(t, len(p.Channels), limit, "a page holds at most its limit")
		if p.More {
			require.Len(t, p.Channels, limit, "only a full page says more follow")
		}
		out = append(out, p.Channels...)
		if !p.More {
			return out
		}
		q.After = lastPair(out)
	}
}

func TestListChannelsPagesWalkEveryPairOfTheTenantOnceInOrder(t *testing.T) {
	h := NewHub(64)
	for i := range 40 {
		id := fmt.Sprint("a", i)
		h.Register(&recorder{id: id, tenant: "acme"})
		for j := range 40 {
			_, err := h.Join(id, Topic{"acme", fmt.Sprint("room", j%13), fmt.Sprint("ch", (i*7+j)%97)})
			require.NoError(t, err)
		}
	}
	h.Register(&recorder{id: "g", tenant: "globex"})
	_, err := h.Join("g", Topic{"globex", "room1", "secret"})
	require.NoError(t, err)

	_, _, all := walkTenant(h, "acme")
	require.Greater(t, len(all), 2*indexChunk, "the index spans several chunks")
	for _, limit := range []int{1, 7, 100, len(all), len(all) + 1} {
		assert.Equal(t, all, pageAll(t, h, "acme", "", limit), "limit %d", limit)
	}
	var room3 []ChannelInfo
	for _, c := range all {
		if c.Room == "room3" {
			room3 = append(room3, c)
		}
	}
	require.NotEmpty(t, room3)
	for _, limit := range []int{1, 5, len(room3)} {
		assert.Equal(t, room3, pageAll(t, h, "acme", "room3", limit), "room3, limit %d", limit)
	}
	assert.Equal(t, []ChannelInfo{{Room: "room1", Channel: "secret", Members: 1}}, pageAll(t, h, "globex", "", 10),
		"the other tenant sees only its own pair")
}

func TestListChannelsCursorsNeedNotExistAndRespectTheRoom(t *testing.T) {
	h := NewHub(8)
	h.Register(&recorder{id: "a", tenant: "acme"})
	for _, p := range [][2]string{{"b", "1"}, {"b", "3"}, {"c", "1"}, {"d", "2"}} {
		_, err := h.Join("a", Topic{"acme", p[0], p[1]})
		require.NoError(t, err)
	}
	names := func(p ChannelPage) []string {
		var out []string
		for _, c := range p.Channels {
			out = append(out, c.Room+"/"+c.Channel)
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    ChannelQuery
		want []string
		more bool
	}{
		{"from the start", ChannelQuery{Limit: 2}, []string{"b/1", "b/3"}, true},
		{"after a vanished pair", ChannelQuery{After: &Pair{"b", "2"}, Limit: 2}, []string{"b/3", "c/1"}, true},
		{"after the last pair", ChannelQuery{After: &Pair{"d", "2"}, Limit: 2}, nil, false},
		{"an exact last page has no more", ChannelQuery{After: &Pair{"b", "3"}, Limit: 2}, []string{"c/1", "d/2"}, false},
		{"a room starts at its first channel", ChannelQuery{Room: "b", Limit: 5}, []string{"b/1", "b/3"}, false},
		{"a room with a cursor before it starts at its first channel", ChannelQuery{Room: "c", After: &Pair{"b", "3"}, Limit: 5}, []string{"c/1"}, false},
		{"a room with a cursor inside it", ChannelQuery{Room: "b", After: &Pair{"b", "1"}, Limit: 5}, []string{"b/3"}, false},
		{"a room with a cursor past it is empty", ChannelQuery{Room: "b", After: &Pair{"c", "0"}, Limit: 5}, nil, false},
		{"a room stops at its last channel", ChannelQuery{Room: "b", Limit: 2}, []string{"b/1", "b/3"}, false},
		{"a room that does not exist", ChannelQuery{Room: "bb", Limit: 2}, nil, false},
		{"a zero limit returns nothing", ChannelQuery{Limit: 0}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.q.Tenant = "acme"
			p := h.ListChannels(c.q)
			assert.Equal(t, c.want, names(p))
			assert.Equal(t, c.more, p.More)
		})
	}
}

func TestTenantStatsCountOnlyTheTenantAndVanishWithIt(t *testing.T) {
	h := NewHub(8)
	a1, a2, g := &recorder{id: "a1", tenant: "acme"}, &recorder{id: "a2", tenant: "acme"}, &recorder{id: "g", tenant: "globex"}
	type counts struct{ clients, rooms, channels int }
	stats := func(tenant string) counts {
		c, r, ch := h.TenantStats(tenant)
		return counts{c, r, ch}
	}
	join := func(id string, tp Topic) { _, err := h.Join(id, tp); require.NoError(t, err) }
	h.Register(a1)
	h.Register(a2)
	h.Register(g)
	join("a1", Topic{"acme", "r", "c1"})
	join("a2", Topic{"acme", "r", "c1"})
	join("a1", Topic{"acme", "r", "c2"})
	join("a1", Topic{"acme", "s", "c1"})
	join("g", Topic{"globex", "r", "c1"})
	assert.Equal(t, counts{2, 2, 3}, stats("acme"))
	assert.Equal(t, counts{1, 1, 1}, stats("globex"), "the same room name of another tenant is counted there only")
	assert.Equal(t, counts{}, stats("initech"), "a tenant never seen")
	rooms, channels := h.Stats()
	assert.Equal(t, [2]int{3, 4}, [2]int{rooms, channels}, "node totals count every tenant")

	h.Unregister("a1")
	assert.Equal(t, counts{1, 1, 1}, stats("acme"), "a1's own pairs and room vanish with it")
	h.Unregister("a2")
	assert.Equal(t, counts{}, stats("acme"))
	assert.NotContains(t, h.tenantShard("acme").tenants, "acme", "an empty tenant keeps no state")
	assert.Equal(t, counts{1, 1, 1}, stats("globex"))
}

func TestTenantCountsAndIndexAgreeWithTheMapsAfterConcurrentChurn(t *testing.T) {
	h := NewHub(16)
	const clients = 8
	tenants := []string{"t0", "t1", ""}
	for i := range clients {
		h.Register(&recorder{id: fmt.Sprint("c", i), tenant: tenants[i%3]})
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			id, tenant := fmt.Sprint("c", i), tenants[i%3]
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			for range 3000 {
				tp := Topic{tenant, fmt.Sprint("r", rng.IntN(4)), fmt.Sprint("ch", rng.IntN(40))}
				switch rng.IntN(20) {
				case 0:
					h.Unregister(id)
					h.Register(&recorder{id: id, tenant: tenant})
				case 1:
					h.ListChannels(ChannelQuery{Tenant: tenant, Room: tp.Room, After: &Pair{tp.Room, tp.Channel}, Limit: 5})
					h.TenantStats(tenant)
				case 2, 3, 4, 5, 6, 7, 8, 9:
					_, _ = h.Leave(id, tp)
				default:
					_, _ = h.Join(id, tp)
				}
			}
		})
	}
	wg.Wait()
	for _, tenant := range tenants {
		wantClients, wantRooms, wantPairs := walkTenant(h, tenant)
		require.NotEmpty(t, wantPairs, "tenant %q still holds pairs after the churn", tenant)
		c, r, ch := h.TenantStats(tenant)
		assert.Equal(t, [3]int{wantClients, wantRooms, len(wantPairs)}, [3]int{c, r, ch}, "tenant %q", tenant)
		assert.Equal(t, wantPairs, pageAll(t, h, tenant, "", 3), "tenant %q pages", tenant)
	}
	for i := range clients {
		h.Unregister(fmt.Sprint("c", i))
	}
	for _, tenant := range tenants {
		c, r, ch := h.TenantStats(tenant)
		assert.Zero(t, c+r+ch, "tenant %q once everyone left", tenant)
	}
}

func TestPairIndexStaysSortedAndCompactUnderRandomChurn(t *testing.T) {
	var x pairIndex
	model := map[Pair]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	check := func(step int) {
		n := 0
		var prev *Pair
		for ci, c := range x.chunks {
			require.NotEmpty(t, c, "step %d: chunk %d is empty", step, ci)
			require.LessOrEqual(t, len(c), 2*indexChunk, "step %d: chunk %d is too big", step, ci)
			for _, e := range c {
				if prev != nil {
					require.Negative(t, comparePairs(*prev, e.Pair), "step %d: out of order", step)
				}
				p := e.Pair
				prev = &p
				require.True(t, model[e.Pair], "step %d: %v is not in the model", step, e.Pair)
				n++
			}
		}
		require.Equal(t, len(model), n, "step %d: entries", step)
		require.Equal(t, len(model), x.len, "step %d: len", step)
		require.LessOrEqual(t, len(x.chunks), 4*x.len/indexChunk+2, "step %d: %d chunks for %d entries", step, len(x.chunks), x.len)
	}
	for step := range 40000 {
		p := Pair{fmt.Sprint("r", rng.IntN(30)), fmt.Sprint("c", rng.IntN(100))}
		// grow to about 2000 entries, then shrink back to nothing
		if grow := step < 20000; model[p] {
			if !grow || rng.IntN(3) == 0 {
				x.remove(p)
				delete(model, p)
			}
		} else if grow || rng.IntN(3) == 0 {
			x.insert(indexEntry{Pair: p})
			model[p] = true
		}
		x.remove(Pair{"zz", "absent"}) // removing an absent pair changes nothing
		if step%500 == 0 {
			check(step)
		}
	}
	check(40000)
}

// bigHub holds 76,800 pairs of tenant "A" (600 clients × 128 channels, each
// client in its own room) and one pair of tenant "B".
func bigHub(b *testing.B) *Hub {
	h := NewHub(128)
	for i := range 600 {
		id := fmt.Sprint("a", i)
		h.Register(&recorder{id: id, tenant: "A"})
		for j := range 128 {
			if _, err := h.Join(id, Topic{Tenant: "A", Room: fmt.Sprint("r", i), Channel: fmt.Sprint("c", j)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	h.Register(&recorder{id: "b", tenant: "B"})
	if _, err := h.Join("b", Topic{Tenant: "B", Room: "r", Channel: "c"}); err != nil {
		b.Fatal(err)
	}
	if _, channels := h.Stats(); channels != 76801 {
		b.Fatalf("%d pairs", channels)
	}
	return h
}

// BenchmarkStatusAt76800Pairs measures the counts /status (node totals)
// and the status command (the caller's tenant) read.
func BenchmarkStatusAt76800Pairs(b *testing.B) {
	h := bigHub(b)
	b.Run("node", func(b *testing.B) {
		for b.Loop() {
			h.Stats()
		}
	})
	b.Run("tenant", func(b *testing.B) {
		for b.Loop() {
			h.TenantStats("B")
		}
	})
}

// BenchmarkListChannelsAt76800Pairs measures list_channels' hub call: a
// small tenant next to a big one, and a default page of the big one.
func BenchmarkListChannelsAt76800Pairs(b *testing.B) {
	h := bigHub(b)
	b.Run("small_tenant", func(b *testing.B) {
		for b.Loop() {
			h.ListChannels(ChannelQuery{Tenant: "B", Limit: 100})
		}
	})
	b.Run("big_tenant_page", func(b *testing.B) {
		after := &Pair{"r300", "c5"}
		for b.Loop() {
			h.ListChannels(ChannelQuery{Tenant: "A", After: after, Limit: 100})
		}
	})
}

// BenchmarkJoinNewPairAt76800Pairs measures a join that creates a pair and
// the leave that ends it, which keep the tenant's counts and index.
func BenchmarkJoinNewPairAt76800Pairs(b *testing.B) {
	h := bigHub(b)
	h.Register(&recorder{id: "j", tenant: "A"})
	i := 0
	for b.Loop() {
		t := Topic{Tenant: "A", Room: "r300", Channel: fmt.Sprint("x", i)}
		_, _ = h.Join("j", t)
		_, _ = h.Leave("j", t)
		i++
	}
}
