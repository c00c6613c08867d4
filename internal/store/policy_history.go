package store

import (
	"context"
	"errors"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// period is one degraded stretch in Clock time; end is zero while open.
type period struct{ start, end time.Time }

// maxPeriods bounds the remembered degraded periods; beyond it the two
// oldest merge into one (which can only make more answers incomplete).
const maxPeriods = 64

// periodSlack widens each period when compared with message timestamps: it
// covers timestamp granularity and clock skew between the node that stamped
// a message and this one.
const periodSlack = time.Second

// openPeriod starts a degraded period at t (the start of the first failed
// call), or moves an open one back to t. Called with mu held.
func (p *Policy) openPeriod(t time.Time) {
	if n := len(p.periods); n > 0 && p.periods[n-1].end.IsZero() {
		if t.Before(p.periods[n-1].start) {
			p.periods[n-1].start = t
		}
		return
	}
	p.periods = append(p.periods, period{start: t})
	if len(p.periods) > maxPeriods {
		p.periods[1].start = p.periods[0].start
		p.periods = append(p.periods[:0], p.periods[1:]...)
	}
}

// closePeriod ends the open period at t. Called with mu held.
func (p *Policy) closePeriod(t time.Time) {
	if n := len(p.periods); n > 0 && p.periods[n-1].end.IsZero() {
		p.periods[n-1].end = t
	}
}

func (p *Policy) hadPeriods() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.periods) > 0
}

func (p *Policy) snapshotPeriods() []period {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]period(nil), p.periods...)
}

// overlaps reports whether any period meets the message-time range
// (lo, hi); a zero lo or hi is unbounded.
func overlaps(periods []period, lo, hi time.Time) bool {
	for _, pd := range periods {
		start := pd.start.Add(-periodSlack)
		if !hi.IsZero() && !start.Before(hi) {
			continue
		}
		if !pd.end.IsZero() && !lo.IsZero() && !pd.end.Add(periodSlack).After(lo) {
			continue
		}
		return true
	}
	return false
}

// History answers from the primary alone until a degraded period has put
// messages in the fallback. From then on it merges both stores (the primary
// only while it is "ok"), oldest first, newest q.EffectiveLimit(), without
// duplicate ids; Complete is false when the primary could not be read or
// the answer's time range meets a degraded period. An id bound is looked up
// in both stores; the store that lacks the message is bounded by its time.
//
// Only this node's degraded periods are known: history written to another
// node's fallback is neither shown nor flagged.
//
// A read never changes the state (see readFailed): a primary that fails a
// read is returned as an error in strict mode, and in degraded mode the
// answer comes from the fallback alone, incomplete.
func (p *Policy) History(ctx context.Context, key Key, q Query) (Page, error) {
	if p.closed.Load() {
		p.count(opHistory, resError)
		return Page{}, ErrClosed
	}
	up := stateCode(p.state.Load()) == stOK
	if !p.fallsBack() || up && !p.hadPeriods() {
		page, err := p.primary.History(ctx, key, q)
		if err == nil || !errors.Is(err, ErrUnavailable) || !p.fallsBack() {
			if err != nil {
				p.readFailed("history", err)
			}
			p.observeRead(opHistory, err)
			return page, err
		}
		p.readFailed("history", err)
		up = false
	}
	page, up, err := p.merged(ctx, key, q, up)
	switch {
	case err != nil:
		p.count(opHistory, resError)
	case up:
		p.count(opHistory, resOK)
	default:
		p.count(opHistory, resFallback)
	}
	return page, err
}

// merged answers q from the fallback and, when up, the primary. It returns
// whether the primary was read.
func (p *Policy) merged(ctx context.Context, key Key, q Query, up bool) (Page, bool, error) {
	periods := p.snapshotPeriods()
	qp, qf := q, q
	complete := true
	var lo, hi time.Time // message-time range of the answer; zero: unbounded
	if q.SinceID != "" {
		env, inP, inF, stillUp, err := p.locate(ctx, key, q.SinceID, up)
		if err != nil {
			return Page{}, up, err
		}
		up = stillUp
		switch {
		case !inP && !inF:
			complete = false // as a backend does: drop the bound
			qp.SinceID, qf.SinceID = "", ""
		default:
			lo = env.Timestamp
			if !inP {
				qp.SinceID, qp.SinceTime = "", later(qp.SinceTime, env.Timestamp)
			}
			if !inF {
				qf.SinceID, qf.SinceTime = "", later(qf.SinceTime, env.Timestamp)
			}
		}
	}
	if q.BeforeID != "" {
		env, inP, inF, stillUp, err := p.locate(ctx, key, q.BeforeID, up)
		if err != nil {
			return Page{}, up, err
		}
		up = stillUp
		if !inP && !inF {
			return Page{Messages: []protocol.Envelope{}, Complete: false}, up, nil
		}
		hi = env.Timestamp
		if !inP {
			qp.BeforeID, qp.BeforeTime = "", earlier(qp.BeforeTime, env.Timestamp)
		}
		if !inF {
			qf.BeforeID, qf.BeforeTime = "", earlier(qf.BeforeTime, env.Timestamp)
		}
	}
	lo, hi = later(lo, q.SinceTime), earlier(hi, q.BeforeTime)

	fpage, err := p.fallback.History(ctx, key, qf)
	if err != nil {
		return Page{}, up, err
	}
	var ppage Page
	if up {
		ppage, err = p.primary.History(ctx, key, qp)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				return Page{}, up, err
			}
			p.readFailed("history", err)
			up = false
		}
	}
	complete = complete && up && ppage.Complete && fpage.Complete
	limit := q.EffectiveLimit()
	msgs, truncated := mergeNewest(ppage, fpage, limit, q.MaxBytes)
	if len(msgs) == limit || truncated {
		lo = later(lo, msgs[0].Timestamp)
	}
	if overlaps(periods, lo, hi) {
		complete = false
	}
	return Page{Messages: msgs, Complete: complete, Truncated: truncated}, up, nil
}

// Locate looks id up in the fallback and, while it is "ok", the primary. A
// primary failure is returned as not found there; like every read it leaves
// the state alone.
func (p *Policy) Locate(ctx context.Context, key Key, id string) (protocol.Envelope, bool, error) {
	if p.closed.Load() {
		return protocol.Envelope{}, false, ErrClosed
	}
	up := stateCode(p.state.Load()) == stOK
	env, inP, inF, _, err := p.locate(ctx, key, id, up)
	return env, inP || inF, err
}

// locate finds id in either store. A store that is not a Locator counts as
// not holding it. A primary failure reports up=false; the state stays.
func (p *Policy) locate(ctx context.Context, key Key, id string, up bool) (env protocol.Envelope, inP, inF, stillUp bool, err error) {
	if l, ok := p.fallback.(Locator); ok {
		env, inF, err = l.Locate(ctx, key, id)
		if err != nil {
			return env, false, false, up, err
		}
	}
	if l, ok := p.primary.(Locator); ok && up {
		penv, found, perr := l.Locate(ctx, key, id)
		switch {
		case perr == nil:
			if found {
				inP = true
				if !inF {
					env = penv
				}
			}
		case errors.Is(perr, ErrUnavailable):
			p.readFailed("locate", perr)
			up = false
		default:
			return env, false, false, up, perr
		}
	}
	return env, inP, inF, up, nil
}

// mergeNewest merges two oldest-first pages by timestamp (a first on ties,
// each page's own order kept), drops the second copy of a repeated id (a
// write that timed out on the primary may have landed in both), and keeps
// the newest limit, then the newest that fit in maxBytes (when positive;
// the newest message always stays). A page its store truncated covers
// only back to its oldest message: anything merged from further back would
// leave a hole, so it is cut too. truncated says older messages were left
// out to keep to the budget.
func mergeNewest(a, b Page, limit, maxBytes int) (msgs []protocol.Envelope, truncated bool) {
	truncated = a.Truncated || b.Truncated
	var out []protocol.Envelope
	if len(b.Messages) == 0 {
		out = a.Messages
	} else {
		out = merge(a.Messages, b.Messages, a.Truncated, b.Truncated)
	}
	out = trimOldest(out, limit)
	if maxBytes <= 0 || len(out) == 0 {
		return out, truncated
	}
	used, from := 0, len(out)
	for from > 0 {
		size := Size(&out[from-1])
		if from < len(out) && used+size > maxBytes {
			truncated = true
			break
		}
		used += size
		from--
	}
	return out[from:], truncated
}

// merge interleaves a and b as mergeNewest describes, starting no further
// back than the oldest message of a page that was cut short.
func merge(a, b []protocol.Envelope, aCut, bCut bool) []protocol.Envelope {
	seen := make(map[string]struct{}, len(a))
	for i := range a {
		seen[a[i].ID] = struct{}{}
	}
	out := make([]protocol.Envelope, 0, len(a)+len(b))
	start := 0 // the first index of out kept
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && !b[j].Timestamp.Before(a[i].Timestamp) {
			if i == 0 && aCut {
				start = len(out)
			}
			out = append(out, a[i])
			i++
			continue
		}
		if j == 0 && bCut {
			start = max(start, len(out))
		}
		if _, dup := seen[b[j].ID]; !dup || b[j].ID == "" {
			out = append(out, b[j])
		}
		j++
	}
	return out[start:]
}

func trimOldest(msgs []protocol.Envelope, limit int) []protocol.Envelope {
	if msgs == nil {
		return []protocol.Envelope{}
	}
	if len(msgs) > limit {
		return msgs[len(msgs)-limit:]
	}
	return msgs
}

// later returns the later of two times, a zero time counting as unbounded
// below; earlier the earlier, a zero time counting as unbounded above.
func later(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
