package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// History returns the newest q.EffectiveLimit() messages inside q's bounds,
// oldest first.
//
// Id bounds are looked up in the index (one pipelined round trip), then the
// stream is read newest first with XREVRANGE … COUNT, usually in one batch.
// Entry ids carry the message time in milliseconds, so time bounds narrow
// the id range and the stored microsecond timestamps decide exactly. A
// SinceTime bound is always exact; a BeforeTime bound may miss a "late"
// message (one older than a message stored before it, whose entry id had to
// be moved past its own time) when the bound falls between the two.
//
// Unknown ids behave as in memstore: an unknown SinceID is dropped and the
// page is incomplete; an unknown BeforeID answers an empty, incomplete page.
func (s *Store) History(ctx context.Context, key store.Key, q store.Query) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, store.ErrClosed
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	k := keysFor(s.prefix, key)
	page, err := s.history(cctx, k, q)
	if err != nil {
		return store.Page{}, wrap(ctx, "history", key.String(), err)
	}
	return page, nil
}

// bounds is a history query translated to inclusive stream id bounds.
type bounds struct {
	lower, upper streamID
	// sinceEntry/beforeEntry are the id-bound entries when they are the
	// tightest bound: read inclusively so the scan can confirm they still
	// exist, then left out of the page.
	sinceEntry, beforeEntry string
	complete                bool
	empty                   bool // the answer is empty whatever the stream holds
}

func (s *Store) resolve(ctx context.Context, k keyNames, q store.Query) (bounds, error) {
	b := bounds{lower: minID, upper: maxID, complete: true}
	var sinceCmd, beforeCmd *redis.StringCmd
	if q.SinceID != "" || q.BeforeID != "" {
		pipe := s.client.Pipeline()
		if q.SinceID != "" {
			sinceCmd = pipe.HGet(ctx, k.index, q.SinceID)
		}
		if q.BeforeID != "" {
			beforeCmd = pipe.HGet(ctx, k.index, q.BeforeID)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return b, err
		}
	}
	if sinceCmd != nil {
		if id, ok := parseStreamID(sinceCmd.Val()); ok {
			b.lower, b.sinceEntry = id, sinceCmd.Val()
		} else {
			b.complete = false // unknown or unindexed: answer what is there
		}
	}
	if beforeCmd != nil {
		id, ok := parseStreamID(beforeCmd.Val())
		if !ok {
			return bounds{complete: false, empty: true}, nil
		}
		b.upper, b.beforeEntry = id, beforeCmd.Val()
	}
	if !q.SinceTime.IsZero() {
		if t := (streamID{ms: uint64(max(q.SinceTime.UnixMilli(), 0))}); b.lower.less(t) {
			b.lower, b.sinceEntry = t, ""
		}
	}
	if !q.BeforeTime.IsZero() {
		ms := q.BeforeTime.UnixMilli()
		if ms < 0 {
			ms = 0 // pre-1970 messages share the ids of 0 ms
		}
		if t := (streamID{ms: uint64(ms), seq: maxID.seq}); t.less(b.upper) {
			b.upper, b.beforeEntry = t, ""
		}
	}
	if b.upper.less(b.lower) || b.sinceEntry != "" && b.beforeEntry != "" && !b.lower.less(b.upper) {
		b.empty = true // exclusive id bounds that meet leave nothing between
	}
	return b, nil
}

func (s *Store) history(ctx context.Context, k keyNames, q store.Query) (store.Page, error) {
	limit := q.EffectiveLimit()
	b, err := s.resolve(ctx, k, q)
	if err != nil {
		return store.Page{}, err
	}
	out := make([]protocol.Envelope, 0, min(limit, 64))
	if b.empty {
		return store.Page{Messages: out, Complete: b.complete}, nil
	}
	since, before := int64(0), int64(0)
	hasSince, hasBefore := !q.SinceTime.IsZero(), !q.BeforeTime.IsZero()
	if hasSince {
		since = q.SinceTime.UnixMicro()
	}
	if hasBefore {
		before = q.BeforeTime.UnixMicro()
	}
	upper, lower := idArg(b.upper, "+"), idArg(b.lower, "-")
	count := int64(limit) + 2 // room for the two inclusive bound entries
	seenSince, first := false, true
scan:
	for {
		batch, err := s.client.XRevRangeN(ctx, k.stream, upper, lower, count).Result()
		if err != nil {
			return store.Page{}, err
		}
		if first && b.beforeEntry != "" {
			if len(batch) == 0 || batch[0].ID != b.beforeEntry {
				// The index named an entry the stream no longer has.
				return store.Page{Messages: out, Complete: false}, nil
			}
			batch = batch[1:]
			count-- // keep "short batch" meaning "reached the lower bound"
		}
		first = false
		for i := range batch {
			m := &batch[i]
			if b.sinceEntry != "" && m.ID == b.sinceEntry {
				seenSince = true
				continue
			}
			env := s.decode(k.stream, m)
			us := env.Timestamp.UnixMicro()
			if hasSince && us <= since || hasBefore && us >= before {
				continue
			}
			out = append(out, env)
			if len(out) == limit {
				break scan
			}
		}
		if int64(len(batch)) < count {
			// Read down to the lower bound: the since entry must have been
			// there, unless the index outlived it.
			if b.sinceEntry != "" && !seenSince {
				b.complete = false
			}
			break
		}
		upper = "(" + batch[len(batch)-1].ID
		count = int64(limit) + 1
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return store.Page{Messages: out, Complete: b.complete}, nil
}

func idArg(id streamID, open string) string {
	if id == minID || id == maxID {
		return open
	}
	return id.String()
}

// Locate finds one message by id through the index.
func (s *Store) Locate(ctx context.Context, key store.Key, id string) (protocol.Envelope, bool, error) {
	if s.closed.Load() {
		return protocol.Envelope{}, false, store.ErrClosed
	}
	if id == "" {
		return protocol.Envelope{}, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	k := keysFor(s.prefix, key)
	entry, err := s.client.HGet(cctx, k.index, id).Result()
	if errors.Is(err, redis.Nil) {
		return protocol.Envelope{}, false, nil
	}
	if err != nil {
		return protocol.Envelope{}, false, wrap(ctx, "locate", key.String(), err)
	}
	msgs, err := s.client.XRangeN(cctx, k.stream, entry, entry, 1).Result()
	if err != nil {
		return protocol.Envelope{}, false, wrap(ctx, "locate", key.String(), err)
	}
	if len(msgs) == 0 {
		return protocol.Envelope{}, false, nil
	}
	return s.decode(k.stream, &msgs[0]), true, nil
}

// decode turns a stream entry into an envelope. Damaged fields are logged at
// DEBUG, left empty, and the entry counted once as a decode failure.
func (s *Store) decode(stream string, m *redis.XMessage) protocol.Envelope {
	failed := false
	env := decodeFields(m.Values, func(field string) {
		failed = true
		s.log.Debug("stored history field cannot be decoded; left empty",
			"stream", stream, "entry", m.ID, "field", field)
	})
	if failed {
		s.m.StorageDecodeFailures.Inc()
	}
	return env
}
