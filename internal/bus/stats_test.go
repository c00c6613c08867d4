package bus

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walkStats counts rooms and pairs the slow way, from the maps themselves.
func walkStats(h *Hub) (rooms, channels int) {
	seen := make(map[[2]string]struct{})
	for i := range h.topics {
		s := &h.topics[i]
		s.mu.RLock()
		for t := range s.topics {
			seen[[2]string{t.Tenant, t.Room}] = struct{}{}
			channels++
		}
		s.mu.RUnlock()
	}
	return len(seen), channels
}

func TestStatsCountRoomsAndPairsAsTheyAppearAndVanish(t *testing.T) {
	h := NewHub(8)
	a, b := &recorder{id: "a", tenant: "t1"}, &recorder{id: "b", tenant: "t2"}
	h.Register(a)
	h.Register(b)
	steps := []struct {
		name            string
		do              func() error
		rooms, channels int
	}{
		{"a first pair opens a room", func() error { _, err := h.Join("a", Topic{"t1", "r", "c1"}); return err }, 1, 1},
		{"a second channel of the room adds a pair only", func() error { _, err := h.Join("a", Topic{"t1", "r", "c2"}); return err }, 1, 2},
		{"the same room name of another tenant is another room", func() error { _, err := h.Join("b", Topic{"t2", "r", "c1"}); return err }, 2, 3},
		{"joining a pair twice counts nothing", func() error { _, err := h.Join("a", Topic{"t1", "r", "c1"}); return err }, 2, 3},
		{"leaving one of two channels keeps the room", func() error { _, err := h.Leave("a", Topic{"t1", "r", "c2"}); return err }, 2, 2},
		{"unregistering the last member closes its room", func() error { h.Unregister("b"); return nil }, 1, 1},
		{"leaving the last pair closes the last room", func() error { _, err := h.Leave("a", Topic{"t1", "r", "c1"}); return err }, 0, 0},
	}
	for _, s := range steps {
		require.NoError(t, s.do(), s.name)
		rooms, channels := h.Stats()
		assert.Equal(t, s.rooms, rooms, "%s: rooms", s.name)
		assert.Equal(t, s.channels, channels, "%s: channels", s.name)
	}
}

func TestStatsAgreeWithTheMapsAfterConcurrentChurn(t *testing.T) {
	h := NewHub(16)
	const clients = 8
	for i := range clients {
		h.Register(&recorder{id: fmt.Sprint("c", i), tenant: fmt.Sprint("t", i%2)})
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, tenant := fmt.Sprint("c", i), fmt.Sprint("t", i%2)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for range 2000 {
				tp := Topic{tenant, fmt.Sprint("r", rng.IntN(3)), fmt.Sprint("ch", rng.IntN(3))}
				switch rng.IntN(10) {
				case 0:
					h.Unregister(id)
					h.Register(&recorder{id: id, tenant: tenant})
				case 1, 2, 3, 4:
					_, _ = h.Leave(id, tp)
				default:
					_, _ = h.Join(id, tp)
				}
			}
		}()
	}
	wg.Wait()
	rooms, channels := walkStats(h)
	gotRooms, gotChannels := h.Stats()
	assert.Equal(t, rooms, gotRooms, "rooms")
	assert.Equal(t, channels, gotChannels, "channels")
	for i := range clients {
		h.Unregister(fmt.Sprint("c", i))
	}
	gotRooms, gotChannels = h.Stats()
	assert.Zero(t, gotRooms, "rooms once everyone left")
	assert.Zero(t, gotChannels, "channels once everyone left")
}
