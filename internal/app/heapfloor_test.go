package app

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHeapFloorPercentPutsTheGoalAtTheFloor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		floor, live uint64
		want        int
	}{
		{64 * mib, 0, 100},         // nothing measured yet: Go's default
		{64 * mib, 8 * mib, 700},   // 8 MiB × 8 = 64 MiB
		{64 * mib, 10 * mib, 540},  // 10 × 6.4 = 64
		{64 * mib, 32 * mib, 100},  // half the floor: the default already reaches it
		{64 * mib, 40 * mib, 100},  // above: never below the default
		{64 * mib, 1, 1000},        // a nearly empty heap: capped
		{64 * mib, 5 * mib, 1000},  // 5 × 11 = 55 MiB: capped short of the floor
		{64 * mib, 6 * mib, 966},   // just under the cap
		{64 * mib, 31 * mib, 106},  // just under half
		{1 * mib, 512 * 1024, 100}, // a small floor
	} {
		got := heapFloorPercent(c.floor, c.live)
		require.Equal(t, c.want, got, "floor %d live %d", c.floor, c.live)
		if c.live > 0 && got > 100 && got < heapFloorMaxPercent {
			goal := c.live * uint64(100+got) / 100
			require.InDelta(t, float64(c.floor), float64(goal), float64(c.live)/100+1, "the goal is the floor")
		}
	}
}

// recorder stands in for debug.SetGCPercent.
type recorder struct {
	mu  sync.Mutex
	set []int
}

func (r *recorder) setPercent(p int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set = append(r.set, p)
	return 100
}

func (r *recorder) calls() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.set...)
}

func TestHeapFloorFollowsEveryCollectionUntilStopped(t *testing.T) {
	const mib = 1 << 20
	rec := &recorder{}
	var mu sync.Mutex
	live := uint64(8 * mib)
	h := &heapFloor{floor: 64 * mib, setPercent: rec.setPercent, percent: heapFloorBasePercent,
		live: func() uint64 { mu.Lock(); defer mu.Unlock(); return live }}
	h.adjust()
	require.Equal(t, []int{700}, rec.calls(), "applied at once")
	h.arm()

	mu.Lock()
	live = 16 * mib
	mu.Unlock()
	require.Eventually(t, func() bool { runtime.GC(); return len(rec.calls()) == 2 }, 5*time.Second, 10*time.Millisecond,
		"a collection re-reads the live heap")
	require.Equal(t, []int{700, 300}, rec.calls())

	runtime.GC()
	runtime.GC()
	require.Equal(t, []int{700, 300}, rec.calls(), "an unchanged heap changes nothing")

	h.stop()
	h.stop()
	require.Equal(t, []int{700, 300, 100}, rec.calls(), "stop restores the default, once")
	mu.Lock()
	live = 2 * mib
	mu.Unlock()
	require.False(t, h.adjust(), "a stopped floor neither adjusts nor re-arms")
	h.collected() // what a sentinel collected after stop runs
	runtime.GC()
	require.Equal(t, []int{700, 300, 100}, rec.calls(), "nothing after stop")
}

func TestHeapFloorStaysOffWhenGOGCIsSetOrTheFloorIsZero(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	withGOGC := func(k string) (string, bool) {
		if k == "GOGC" {
			return "200", true
		}
		return "", false
	}
	none := func(string) (string, bool) { return "", false }

	startHeapFloor(64<<20, withGOGC, os.ReadFile, log)()
	require.Contains(t, logs.String(), "GOGC is set; the heap floor is off")
	require.Contains(t, logs.String(), "gogc=200")

	logs.Reset()
	startHeapFloor(0, none, os.ReadFile, log)()
	require.Empty(t, logs.String(), "a zero floor is simply off")
}

func TestLiveHeapCountsHeapStacksAndGlobals(t *testing.T) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	got := liveHeap()
	require.Greater(t, got, uint64(0))
	require.Less(t, got, ms.HeapAlloc+ms.StackInuse+ms.Sys, "within what the process holds")
}

func TestHeapFloorIsAQuarterOfAContainersMemoryLimitAtMost(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(path string) ([]byte, error) {
			if v, ok := m[path]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, c := range []struct {
		name  string
		files map[string]string
		limit uint64
		ok    bool
	}{
		{"v2 limit", map[string]string{v2: "134217728\n"}, 128 << 20, true},
		{"v2 unlimited", map[string]string{v2: "max\n", v1: "1048576"}, 0, false},
		{"v1 limit", map[string]string{v1: "268435456\n"}, 256 << 20, true},
		{"v1 unlimited", map[string]string{v1: "9223372036854771712\n"}, 0, false},
		{"no cgroup files", nil, 0, false},
		{"garbage", map[string]string{v2: "lots"}, 0, false},
	} {
		limit, ok := cgroupMemoryLimit(files(c.files))
		require.Equal(t, c.ok, ok, c.name)
		require.Equal(t, c.limit, limit, c.name)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	none := func(string) (string, bool) { return "", false }
	stop := startHeapFloor(64<<20, none, files(map[string]string{v2: "134217728"}), log)
	stop()
	require.Contains(t, logs.String(), "heap floor on")
	require.Contains(t, logs.String(), "floor_bytes=33554432", "a quarter of 128 MiB")
	require.Contains(t, logs.String(), "memory_limit_bytes=134217728")

	logs.Reset()
	stop = startHeapFloor(64<<20, none, func(string) ([]byte, error) { return nil, errors.New("no cgroups here") }, log)
	stop()
	require.Contains(t, logs.String(), "floor_bytes=67108864", "no limit: the floor as configured")
}
