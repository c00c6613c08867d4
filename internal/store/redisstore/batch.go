package redisstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/batcher"
)

// Appends from many connections are sent to Redis in pipelines: each
// batcher goroutine (batcher.Run) takes one waiting append, adds whatever
// else is waiting (up to maxBatch), and runs all their scripts in one round
// trip. Under load this
// turns one round trip per message into one per batch; an idle store pays
// one channel hand-off. Appends that come spread out (one every 100 µs)
// still make batches of one or two; a linger (Options.BatchLinger) trades a
// little latency for larger ones. Each caller still gets its own script's
// answer, so strict mode acknowledges exactly what Redis stored.
const (
	batchers = 2
	maxBatch = 128
	// busyGap: an append arriving within this long of the previous batch's
	// answer means appends are coming fast enough for a linger
	// (Options.BatchLinger) to gather more.
	busyGap = 2 * time.Millisecond
)

type appendReq struct {
	parent   context.Context // the caller's
	deadline time.Time       // the caller stops waiting then
	args     []any           // the whole EVALSHA command
	done     chan error      // buffered: the batcher never waits for the caller
}

// gaveUp reports why the caller no longer waits, or nil.
func (r *appendReq) gaveUp() error {
	if err := r.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(r.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *Store) batch() {
	defer s.wg.Done()
	var linger *time.Timer
	if s.linger > 0 {
		linger = time.NewTimer(s.linger)
		linger.Stop()
	}
	batcher.Run(s.stop, s.appends, maxBatch, func(reqs []*appendReq) {
		if linger != nil && s.busy() && len(reqs) < maxBatch {
			reqs = s.gather(reqs, linger)
		}
		s.runBatch(reqs)
		clear(reqs) // what gather added
		if linger != nil {
			s.answered.Store(time.Now().UnixNano())
		}
	})
}

// busy reports whether the previous batch was answered less than busyGap
// ago: appends are coming fast enough for a linger to gather more.
func (s *Store) busy() bool {
	return time.Since(time.Unix(0, s.answered.Load())) < busyGap
}

// gather adds appends as they come until the batch is full, the linger has
// passed or the store closes.
func (s *Store) gather(reqs []*appendReq, linger *time.Timer) []*appendReq {
	linger.Reset(s.linger)
	s.lingering.Store(true)
	defer func() {
		linger.Stop()
		s.lingering.Store(false)
	}()
	for len(reqs) < maxBatch {
		select {
		case r := <-s.appends:
			reqs = append(reqs, r)
		case <-linger.C:
			return reqs
		case <-s.stop:
			return reqs
		}
	}
	return reqs
}

// runBatch runs the append script for every request in one pipeline,
// loading the script first when Redis does not know it (after a restart).
func (s *Store) runBatch(reqs []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	cmds := s.pipeline(ctx, reqs, false)
	var retry []*appendReq
	var at []int
	for i, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			retry, at = append(retry, reqs[i]), append(at, i)
		}
	}
	if len(retry) > 0 { // only those Redis refused unseen: no append runs twice
		for j, c := range s.pipeline(ctx, retry, true) {
			cmds[at[j]] = c
		}
	}
	for i, r := range reqs {
		err := cmds[i].Err()
		if err == redis.Nil { // the script returns nothing on success
			err = nil
		}
		r.done <- err
	}
}

func (s *Store) pipeline(ctx context.Context, reqs []*appendReq, eval bool) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(reqs))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range reqs {
			if err := r.gaveUp(); err != nil { // do not write late
				cmds[i] = redis.NewCmd(ctx)
				cmds[i].SetErr(err)
				continue
			}
			args := r.args
			if eval { // the script itself instead of its hash
				args = slices.Clone(args)
				args[0], args[1] = cmdEval, appendSource
			}
			cmds[i] = redis.NewCmd(ctx, args...)
			cmds[i].SetFirstKeyPos(appendKeyPos)
			_ = p.Process(ctx, cmds[i])
		}
		return nil
	})
	return cmds
}
