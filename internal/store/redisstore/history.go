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
// stream is read newest first with XREVRANGE … COUNT, usually in one batch;
// under a byte budget (q.MaxBytes) in small batches sized from the entries
// read so far, stopping once the budget is spent.
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

// firstChunk is how many matching entries a history read under a byte
// budget asks for first: the newest is always kept, and what it weighs
// sizes the next read, so Redis never serialises much more than the budget
// (a page of 500 large messages is hundreds of MB). Small messages cost one
// more round trip than without a budget.
const firstChunk = 1

// probeNext returns the id of the newest entry of a stream inside an id
// range and the bytes of its field names and values, without sending the
// entry itself: when the budget has no room for an entry of the size read
// so far, this tells whether an older one exists (the page is truncated)
// without Redis serialising a large message that would be thrown away.
var probeNext = redis.NewScript(`
local e = redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', 1)
if #e == 0 then return false end
local n = 0
for _, v in ipairs(e[1][2]) do n = n + string.len(v) end
return {e[1][1], n}
`)

// probeSlack bounds how much the stored bytes of an entry (field names,
// and the timestamp, type, version and status fields) may exceed
// store.Size of it less its fixed overhead. An entry whose stored bytes
// are over the budget left by more than this cannot fit.
const probeSlack = 256

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
	budget := q.MaxBytes > 0
	want := limit // matching entries the next read aims at
	if budget {
		want = min(limit, firstChunk)
	}
	// Room for the inclusive bound entries: the before entry heads the
	// first batch; the since entry ends the last.
	extra := int64(0)
	if b.sinceEntry != "" {
		extra++
	}
	count := int64(want) + extra
	if b.beforeEntry != "" {
		count++
	}
	seenSince, first, truncated := false, true, false
	used, read, weighed := 0, 0, 0 // bytes kept; entries decoded and their bytes
scan:
	for {
		batch, err := s.client.XRevRangeN(ctx, k.stream, upper, lower, count).Result()
		if err != nil {
			return store.Page{}, err
		}
		// A short batch means the read reached the lower bound.
		exhausted := int64(len(batch)) < count
		if len(batch) > 0 {
			upper = "(" + batch[len(batch)-1].ID
		}
		if first && b.beforeEntry != "" {
			if len(batch) == 0 || batch[0].ID != b.beforeEntry {
				// The index named an entry the stream no longer has.
				return store.Page{Messages: out, Complete: false}, nil
			}
			batch = batch[1:]
		}
		first = false
		for i := range batch {
			m := &batch[i]
			if b.sinceEntry != "" && m.ID == b.sinceEntry {
				seenSince = true
				continue
			}
			env := s.decode(k.stream, m)
			size := store.Size(&env)
			read, weighed = read+1, weighed+size
			us := env.Timestamp.UnixMicro()
			if hasSince && us <= since || hasBefore && us >= before {
				continue
			}
			if budget && len(out) > 0 && used+size > q.MaxBytes {
				truncated = true
				break scan
			}
			used += size
			out = append(out, env)
			if len(out) == limit {
				break scan
			}
		}
		if exhausted {
			// Read down to the lower bound: the since entry must have been
			// there, unless the index outlived it.
			if b.sinceEntry != "" && !seenSince {
				b.complete = false
			}
			break
		}
		if budget && read > 0 && !hasSince && !hasBefore && q.MaxBytes-used < weighed/read {
			// The next entry likely does not fit: ask its size first. (Time
			// bounds are checked on the decoded timestamp, so with them the
			// entry is read as usual.)
			stop, err := s.probe(ctx, k, upper, lower, b.sinceEntry, q.MaxBytes-used)
			if err != nil {
				return store.Page{}, err
			}
			switch stop {
			case probeEnd:
				if b.sinceEntry != "" && !seenSince {
					b.complete = false
				}
				break scan
			case probeSince:
				break scan
			case probeTooBig:
				truncated = true
				break scan
			}
		}
		want = limit - len(out)
		if budget && read > 0 {
			// One entry more than the average says fits, so a full budget
			// is seen to be full.
			fit := (q.MaxBytes-used)/max(weighed/read, 1) + 1
			want = min(want, max(fit, 1))
		}
		count = int64(want) + extra
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return store.Page{Messages: out, Complete: b.complete, Truncated: truncated}, nil
}

// Outcomes of probe.
const (
	probeRead   = iota // the next entry may fit: read it
	probeEnd           // no entry is left inside the bounds
	probeSince         // the next entry is the since bound: nothing is left
	probeTooBig        // the next entry cannot fit in room bytes
)

// probe looks at the newest entry between upper and lower without reading
// it.
func (s *Store) probe(ctx context.Context, k keyNames, upper, lower, sinceEntry string, room int) (int, error) {
	v, err := probeNext.Run(ctx, s.client, []string{k.stream}, upper, lower).Slice()
	if errors.Is(err, redis.Nil) {
		return probeEnd, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 2 {
		return probeRead, nil
	}
	id, _ := v[0].(string)
	n, _ := v[1].(int64)
	switch {
	case sinceEntry != "" && id == sinceEntry:
		return probeSince, nil
	case n-probeSlack > int64(room):
		return probeTooBig, nil
	}
	return probeRead, nil
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
