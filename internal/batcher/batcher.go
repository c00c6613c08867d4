// Package batcher turns a channel of single items into batches, so that a
// goroutine sending them over the network pays one round trip per batch: it
// waits for one item, adds whatever else is already queued (up to a bound),
// hands the batch over, and repeats. Under load a batch carries everything
// that queued up during the previous round trip; an idle sender sends each
// item at once, alone. The Redis broker (pub/sub and presence writes) and
// the Redis history store (script pipelines) send this way.
//
// Concurrency: Run is the loop of the goroutine that calls it; several
// goroutines may run it on the same channel, each with its own batches.
package batcher

// Run receives from in until done is closed, calling flush with batches of
// 1 to max items in the order they were received. flush runs on Run's
// goroutine, so no batch starts before the previous one was handed over.
// The slice is reused: flush must not keep it. After flush returns, Run
// clears the items it received, so the buffer holds no references between
// batches. A flush that appends to the batch (gathering more items, up to
// cap(batch) == max) clears what it appended itself.
func Run[T any](done <-chan struct{}, in <-chan T, max int, flush func(batch []T)) {
	batch := make([]T, 0, max)
	for {
		select {
		case <-done:
			return
		case item := <-in:
			batch = append(batch[:0], item)
		}
		batch = Fill(batch, in, max)
		flush(batch)
		clear(batch)
	}
}

// Fill appends the items already waiting on in to batch until it holds max
// items or in has none ready; it never blocks.
func Fill[T any](batch []T, in <-chan T, max int) []T {
	for len(batch) < max {
		select {
		case item := <-in:
			batch = append(batch, item)
		default:
			return batch
		}
	}
	return batch
}
