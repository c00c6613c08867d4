package app

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// The collector starts a cycle when the heap has grown by GOGC percent (100)
// over what the last cycle left live (with goroutine stacks and globals). A
// bus keeps little live (~13 MB with 2000 busy connections) and makes
// garbage at a steady rate (~1.3 KB per message), so it collects every
// second or so, and on a busy core each cycle is milliseconds of marking that
// lands in the latency tail. heapFloor keeps the heap goal near a floor
// instead: after every cycle it sets the percentage so that what that cycle
// left live, grown by it, reaches the floor; once the live part passes half
// the floor, the percentage is GOGC's 100 again. The percentage is capped, so
// that a nearly empty heap (at startup) does not get a goal of the floor
// times whatever stacks it grows until the next cycle. An explicit GOGC in
// the environment wins: the floor is then off.

const (
	// heapFloorBasePercent is the percentage kept above the floor: Go's default.
	heapFloorBasePercent = 100
	// heapFloorMaxPercent caps the percentage: a goal at most 11 times what
	// was left live.
	heapFloorMaxPercent = 1000
)

// heapFloorPercent is the percentage that puts the goal at floor for live
// bytes (heap, stacks and globals), within the base and the cap.
func heapFloorPercent(floor, live uint64) int {
	if live == 0 || live >= floor/2 {
		return heapFloorBasePercent
	}
	// Capped while still unsigned: on 32-bit platforms the quotient
	// overflows int, and a negative percentage would turn collection off.
	return int(min(heapFloorMaxPercent, (floor-live)*100/live))
}

type heapFloor struct {
	floor      uint64
	setPercent func(int) int // debug.SetGCPercent; tests watch it
	live       func() uint64 // what the last cycle left live, as the percentage applies to it

	mu      sync.Mutex
	stopped bool
	percent int
}

// gcSentinel is garbage from birth; its cleanup runs once per collection.
// It holds a pointer so that it is never packed into a tiny block (whose
// cleanup might wait for a neighbour).
type gcSentinel struct{ _ *byte }

// startHeapFloor keeps the heap goal at least floor bytes until stop is
// called, which restores GOGC's 100. It does nothing (and stop is a no-op)
// when floor is 0 or GOGC is set, as lookup reports. Under a memory limit
// (a container's cgroup, read through readFile) the floor is at most a
// quarter of the limit, so that it never brings the process near it.
func startHeapFloor(floor uint64, lookup func(string) (string, bool), readFile func(string) ([]byte, error),
	log *slog.Logger) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	if v, set := lookup("GOGC"); set {
		log.Info("GOGC is set; the heap floor is off", "op", "gc", "gogc", v)
		return func() {}
	}
	attrs := []any{"op", "gc"}
	if limit, ok := cgroupMemoryLimit(readFile); ok {
		floor = min(floor, limit/4)
		attrs = append(attrs, "memory_limit_bytes", limit)
	}
	h := &heapFloor{floor: floor, setPercent: debug.SetGCPercent, live: liveHeap, percent: heapFloorBasePercent}
	h.adjust()
	h.arm()
	log.Info("heap floor on", append(attrs, "floor_bytes", floor)...)
	return h.stop
}

// cgroupMemoryLimit reads the memory limit of the cgroup the process sees at
// the usual mount point (a container's own): cgroup v2's memory.max, else v1's
// memory.limit_in_bytes. "max", or v1's near-2^63 "unlimited", is no limit.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (uint64, bool) {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v == 0 || v >= 1<<62 {
			return 0, false // "max", unparsable or unlimited
		}
		return v, true
	}
	return 0, false
}

func (h *heapFloor) arm() {
	runtime.AddCleanup(&gcSentinel{}, func(h *heapFloor) { h.collected() }, h)
}

// collected runs after each collection: adjust, and watch for the next one.
func (h *heapFloor) collected() {
	if h.adjust() {
		h.arm()
	}
}

// adjust sets the percentage for the current live heap. It reports false
// once stopped.
func (h *heapFloor) adjust() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	if p := heapFloorPercent(h.floor, h.live()); p != h.percent {
		h.setPercent(p)
		h.percent = p
	}
	return true
}

func (h *heapFloor) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		h.setPercent(heapFloorBasePercent)
	}
}

// liveHeap is what the percentage applies to: the heap the last collection
// found live plus the goroutine stacks and globals it scanned, in bytes.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	var total uint64
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			total += v.Value.Uint64()
		}
	}
	return total
}
