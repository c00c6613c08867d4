package ws

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheSendQueueBoundIsExact(t *testing.T) {
	const limit = 10
	type push struct {
		n     int
		reply bool
		want  error
	}
	cases := []struct {
		name   string
		pushes []push
	}{
		{"frames that fill the queue to the limit are taken",
			[]push{{4, false, nil}, {6, false, nil}}},
		{"a frame one byte over the limit overflows",
			[]push{{4, false, nil}, {7, false, errQueueFull}}},
		{"an empty queue takes one frame larger than the limit",
			[]push{{limit + 1, false, nil}}},
		{"a frame after an oversized one overflows",
			[]push{{limit + 1, false, nil}, {1, false, errQueueFull}}},
		{"a reply is taken by a queue at its limit, however large",
			[]push{{limit, false, nil}, {100, true, nil}}},
		{"a reply overflows a queue already over its limit",
			[]push{{limit + 1, false, nil}, {1, true, errQueueFull}}},
		{"nothing is taken after an overflow",
			[]push{{limit, false, nil}, {1, false, errQueueFull}, {1, false, errQueueClosed}, {1, true, errQueueClosed}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newSendQueue(limit, func() {})
			for i, p := range tc.pushes {
				f := make([]byte, p.n)
				var err error
				if p.reply {
					err = q.pushReply(f)
				} else {
					err = q.push(f)
				}
				require.ErrorIs(t, err, p.want, "push %d of %d bytes", i, p.n)
			}
		})
	}
}

func TestAnOverflowDropsTheQueuedFramesAndClosesWith4008(t *testing.T) {
	q := newSendQueue(10, func() {})
	require.NoError(t, q.push([]byte("0123456789")))
	require.True(t, q.pushControl([]byte{0x89, 0}), "a ping before the overflow")
	require.ErrorIs(t, q.push([]byte("x")), errQueueFull)

	b := q.pop(nil)
	assert.Empty(t, b.frames, "the queued frames are dropped")
	assert.Equal(t, []byte{0x89, 0}, b.control, "control frames are not data: they stay")
	assert.True(t, b.closing)
	assert.Equal(t, closeSlowConsumer, b.code)
	assert.False(t, q.close(closeGoingAway, "later"), "the overflow was the first close")
}

func TestThePopOrderIsThePushOrder(t *testing.T) {
	q := newSendQueue(1<<20, func() {})
	var got [][]byte
	for round := range 3 {
		for i := range 50 {
			require.NoError(t, q.push([]byte(fmt.Sprintf("%d-%d", round, i))))
		}
		got = append(got, q.pop(nil).frames...)
	}
	require.Len(t, got, 150)
	for i, f := range got {
		assert.Equal(t, fmt.Sprintf("%d-%d", i/50, i%50), string(f))
	}
	assert.Zero(t, q.size, "popped: nothing counts against the bound")
}

func TestTheSendQueueClose(t *testing.T) {
	cases := []struct {
		name  string
		check func(t *testing.T, q *sendQueue)
	}{
		{"queued frames are still popped, then the close frame is due", func(t *testing.T, q *sendQueue) {
			require.NoError(t, q.push([]byte("a")))
			require.True(t, q.close(closeGoingAway, "bye"))
			b := q.pop(nil)
			assert.Equal(t, [][]byte{[]byte("a")}, b.frames)
			assert.True(t, b.closing)
			assert.Equal(t, closeGoingAway, b.code)
			assert.Equal(t, "bye", b.text)
		}},
		{"no data frame is taken after close", func(t *testing.T, q *sendQueue) {
			q.close(closeGoingAway, "")
			assert.ErrorIs(t, q.push([]byte("a")), errQueueClosed)
			assert.ErrorIs(t, q.pushReply([]byte("a")), errQueueClosed)
		}},
		{"the first close wins", func(t *testing.T, q *sendQueue) {
			assert.True(t, q.close(closeTokenExpired, "token expired"))
			assert.False(t, q.close(closeGoingAway, "server shutting down"))
			assert.Equal(t, closeTokenExpired, q.pop(nil).code)
		}},
		{"control frames are still taken after close", func(t *testing.T, q *sendQueue) {
			q.close(0, "")
			assert.True(t, q.pushControl(pingFrame))
			assert.Equal(t, pingFrame, q.pop(nil).control)
		}},
		{"a closed queue keeps its consumer until the close frame is written", func(t *testing.T, q *sendQueue) {
			q.close(0, "")
			assert.False(t, q.park())
		}},
		{"shut drops everything, takes nothing and closes done", func(t *testing.T, q *sendQueue) {
			require.NoError(t, q.push([]byte("a")))
			q.setPong([]byte("p"))
			q.shut()
			q.shut() // idempotent
			assert.True(t, q.isShut())
			b := q.pop(nil)
			assert.Empty(t, b.frames)
			assert.Empty(t, b.control)
			assert.ErrorIs(t, q.push([]byte("b")), errQueueClosed)
			assert.False(t, q.pushControl(pingFrame))
			q.setPong([]byte("p"))
			assert.False(t, q.hasPong)
			select {
			case <-q.done:
			default:
				t.Fatal("done is not closed")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, newSendQueue(1<<10, func() {})) })
	}
}

func TestOnlyTheLatestPongIsQueuedAfterOtherControlFrames(t *testing.T) {
	q := newSendQueue(1<<10, func() {})
	for i := range 1000 {
		q.setPong([]byte(strconv.Itoa(i)))
	}
	require.True(t, q.pushControl(pingFrame))
	b := q.pop(nil)
	assert.Equal(t, append(append([]byte{}, pingFrame...), appendFrame(nil, opPong, []byte("999"))...), b.control)
	assert.Empty(t, q.pop(nil).control, "answered once")
}

func TestAConsumerStartsOnceAndAgainOnlyAfterItParked(t *testing.T) {
	var starts sync.WaitGroup
	var n int
	var mu sync.Mutex
	q := newSendQueue(1<<10, func() { mu.Lock(); n++; mu.Unlock(); starts.Done() })
	count := func() int { starts.Wait(); mu.Lock(); defer mu.Unlock(); return n }

	starts.Add(1)
	require.NoError(t, q.push([]byte("a")))
	require.NoError(t, q.push([]byte("b")))
	assert.Equal(t, 1, count(), "the second push wakes the running consumer")
	assert.Len(t, q.wake, 1, "one wake-up waits")

	assert.False(t, q.park(), "frames wait: the consumer may not leave")
	q.pop(nil)
	assert.True(t, q.park(), "nothing waits: the consumer leaves")

	starts.Add(1)
	q.setPong(nil)
	assert.Equal(t, 2, count(), "the next work starts a new consumer")
}

func TestSwappingBatchArraysAllocatesNothing(t *testing.T) {
	q := newSendQueue(1<<20, func() {})
	f := []byte("frame")
	require.NoError(t, q.push(f)) // starts the (empty) consumer once
	spare := q.pop(nil).frames
	allocs := testing.AllocsPerRun(100, func() {
		_ = q.push(f)
		_ = q.push(f)
		b := q.pop(spare)
		clear(b.frames)
		spare = b.frames
	})
	assert.Zero(t, allocs)
}

// Many senders push while one consumer at a time pops, parks and is
// restarted: every frame arrives exactly once and each sender's frames keep
// their order. Between rounds the consumer parks for sure; within a round
// the senders pause now and then, so parks race with pushes. Run with -race.
func TestConcurrentPushesReachOneConsumerAtATimeInOrder(t *testing.T) {
	const rounds, senders, perRound = 4, 8, 100
	var (
		mu      sync.Mutex
		got     [][]byte
		starts  int
		running int  // consumers between their start and their park
		overlap bool // two of them at once
	)
	enter := func() { mu.Lock(); running++; overlap = overlap || running > 1; mu.Unlock() }
	leave := func() { mu.Lock(); running--; mu.Unlock() }
	arrived := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	var q *sendQueue
	consume := func() {
		mu.Lock()
		starts++
		mu.Unlock()
		enter()
		var spare [][]byte
		for {
			b := q.pop(spare)
			if b.empty() {
				select {
				case <-q.wake:
					continue
				case <-time.After(time.Millisecond): // a short linger
				}
				leave() // before park: once it succeeds, a new consumer may start
				if q.park() {
					return
				}
				enter()
				continue
			}
			mu.Lock()
			for _, f := range b.frames {
				got = append(got, bytes.Clone(f))
			}
			mu.Unlock()
			clear(b.frames)
			spare = b.frames
			if b.closing {
				leave()
				q.shut()
				return
			}
		}
	}
	q = newSendQueue(1<<30, consume)
	parked := func() bool { q.mu.Lock(); defer q.mu.Unlock(); return !q.running }

	for r := range rounds {
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range perRound {
					assert.NoError(t, q.push([]byte(fmt.Sprintf("%d:%d", s, r*perRound+i))))
					if i%25 == 0 {
						runtime.Gosched()
					}
				}
			})
		}
		wg.Wait()
		want := (r + 1) * senders * perRound
		eventually(t, 10*time.Second, func() bool { return arrived() == want }, "every frame of the round arrives")
		eventually(t, 10*time.Second, parked, "the idle consumer parks")
	}
	q.close(0, "")
	select {
	case <-q.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not finish after close")
	}

	mu.Lock()
	defer mu.Unlock()
	assert.False(t, overlap, "two consumers ran at once")
	assert.GreaterOrEqual(t, starts, rounds+1, "a consumer started for every round and for the close")
	next := make([]int, senders)
	for _, f := range got {
		var s, i int
		_, err := fmt.Sscanf(string(f), "%d:%d", &s, &i)
		require.NoError(t, err)
		require.Equal(t, next[s], i, "sender %d's frames in order", s)
		next[s]++
	}
}
