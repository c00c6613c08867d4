package batcher

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run starts Run in the background and returns what it flushed (copied,
// since the slice is reused) and a stop function that waits for Run to
// return.
func run(t *testing.T, in chan int, max int, flushed chan []int) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		Run(done, in, max, func(batch []int) { flushed <- append([]int(nil), batch...) })
	})
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func next(t *testing.T, flushed chan []int) []int {
	t.Helper()
	select {
	case b := <-flushed:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no batch within 5s")
		return nil
	}
}

func TestAQueuedBacklogLeavesInBatchesOfAtMostMaxInOrder(t *testing.T) {
	in := make(chan int, 10)
	for i := range 10 {
		in <- i
	}
	flushed := make(chan []int, 10)
	run(t, in, 4, flushed)
	assert.Equal(t, []int{0, 1, 2, 3}, next(t, flushed))
	assert.Equal(t, []int{4, 5, 6, 7}, next(t, flushed))
	assert.Equal(t, []int{8, 9}, next(t, flushed), "the rest, without waiting for more")
}

func TestALoneItemLeavesAtOnceAlone(t *testing.T) {
	in := make(chan int)
	flushed := make(chan []int, 1)
	run(t, in, 128, flushed)
	in <- 7
	assert.Equal(t, []int{7}, next(t, flushed))
	in <- 8
	assert.Equal(t, []int{8}, next(t, flushed))
}

func TestItemsQueuedDuringAFlushMakeTheNextBatch(t *testing.T) {
	in := make(chan int, 8)
	entered, release := make(chan struct{}), make(chan struct{})
	var got [][]int
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		first := true
		Run(done, in, 8, func(batch []int) {
			got = append(got, append([]int(nil), batch...))
			if first {
				first = false
				close(entered)
				<-release
			}
		})
	})
	in <- 1
	<-entered
	in <- 2
	in <- 3
	close(release)
	require.Eventually(t, func() bool { return len(in) == 0 }, 5*time.Second, time.Millisecond)
	close(done)
	wg.Wait()
	assert.Equal(t, [][]int{{1}, {2, 3}}, got)
}

func TestTheBufferKeepsNoReferenceAfterAFlush(t *testing.T) {
	in := make(chan *int, 2)
	var held []*int
	done := make(chan struct{})
	flushed := make(chan struct{}, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		Run(done, in, 2, func(batch []*int) {
			held = batch[:cap(batch)]
			flushed <- struct{}{}
		})
	})
	a, b := 1, 2
	in <- &a
	in <- &b
	<-flushed
	close(done)
	wg.Wait()
	assert.Equal(t, []*int{nil, nil}, held, "cleared once the flush returned")
}

func TestRunReturnsWhenDoneIsClosed(t *testing.T) {
	stop := run(t, make(chan int), 4, make(chan []int))
	returned := make(chan struct{})
	go func() { stop(); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of done closing")
	}
}

func TestFillNeverBlocksAndStopsAtMax(t *testing.T) {
	in := make(chan int, 5)
	assert.Empty(t, Fill(nil, in, 3), "nothing waiting: nothing added")
	for i := range 5 {
		in <- i
	}
	assert.Equal(t, []int{9, 0, 1}, Fill([]int{9}, in, 3))
	assert.Len(t, in, 3, "the rest stays queued")
}
