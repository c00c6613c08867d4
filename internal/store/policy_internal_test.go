package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

func TestProbeBackoffDoublesUpToTheCap(t *testing.T) {
	d := 250 * time.Millisecond
	var got []time.Duration
	for range 6 {
		d = nextDelay(d, 5*time.Second)
		got = append(got, d)
	}
	assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
}

func TestPeriodsOverlapWithSlack(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	closed := []period{{start: t0, end: t0.Add(time.Minute)}}
	open := []period{{start: t0}}
	for _, c := range []struct {
		name    string
		periods []period
		lo, hi  time.Time
		want    bool
	}{
		{"an unbounded range meets every period", closed, time.Time{}, time.Time{}, true},
		{"a range wholly before", closed, time.Time{}, t0.Add(-2 * time.Second), false},
		{"a range ending within the slack before", closed, time.Time{}, t0.Add(-time.Second / 2), true},
		{"a range wholly after", closed, t0.Add(time.Minute + 2*time.Second), time.Time{}, false},
		{"a range starting within the slack after", closed, t0.Add(time.Minute + time.Second/2), time.Time{}, true},
		{"a range inside", closed, t0.Add(time.Second), t0.Add(2 * time.Second), true},
		{"an open period reaches every later range", open, t0.Add(time.Hour), time.Time{}, true},
		{"an open period misses earlier ranges", open, time.Time{}, t0.Add(-time.Hour), false},
		{"no periods", nil, time.Time{}, time.Time{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, overlaps(c.periods, c.lo, c.hi))
		})
	}
}

func TestPeriodsStayBoundedByMergingTheOldest(t *testing.T) {
	p := &Policy{}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range maxPeriods + 10 {
		p.openPeriod(t0.Add(time.Duration(2*i) * time.Minute))
		p.closePeriod(t0.Add(time.Duration(2*i+1) * time.Minute))
	}
	assert.Len(t, p.periods, maxPeriods)
	assert.Equal(t, t0, p.periods[0].start, "the merged period still covers the first")
	assert.Equal(t, t0.Add(time.Duration(2*(maxPeriods+10)-1)*time.Minute), p.periods[maxPeriods-1].end)
}

func TestAnOpenPeriodMovesBackToTheEarliestFailedCall(t *testing.T) {
	p := &Policy{}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	p.openPeriod(t0)
	p.openPeriod(t0.Add(-time.Second)) // a write that began earlier failed later
	p.openPeriod(t0.Add(time.Second))
	assert.Equal(t, []period{{start: t0.Add(-time.Second)}}, p.periods)
}

func TestMergeKeepsEachStoresOrderAndTheNewest(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	env := func(id string, s int) protocol.Envelope {
		return protocol.Envelope{ID: id, Timestamp: t0.Add(time.Duration(s) * time.Second)}
	}
	primary := []protocol.Envelope{env("a", 1), env("b", 3), env("late", 2), env("d", 6)}
	fallback := []protocol.Envelope{env("c", 4), env("b", 3), env("e", 5)}
	ids := func(m []protocol.Envelope) []string {
		out := []string{}
		for _, e := range m {
			out = append(out, e.ID)
		}
		return out
	}
	merged := func(a, b []protocol.Envelope, limit int) []string {
		msgs, truncated := mergeNewest(Page{Messages: a}, Page{Messages: b}, limit, 0)
		assert.False(t, truncated, "no budget, nothing truncated")
		return ids(msgs)
	}
	assert.Equal(t, []string{"a", "b", "late", "c", "e", "d"}, merged(primary, fallback, 10))
	assert.Equal(t, []string{"e", "d"}, merged(primary, fallback, 2))
	assert.Equal(t, []string{}, merged(nil, nil, 5))
}

func TestMergeKeepsTheNewestThatFitTheByteBudget(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	env := func(id string, s int) protocol.Envelope {
		// Every message weighs the same: Size of ids of one letter.
		return protocol.Envelope{ID: id, Timestamp: t0.Add(time.Duration(s) * time.Second)}
	}
	one := Size(&protocol.Envelope{ID: "a"})
	primary := Page{Messages: []protocol.Envelope{env("a", 1), env("c", 3), env("e", 5)}}
	fallback := Page{Messages: []protocol.Envelope{env("b", 2), env("d", 4)}}
	ids := func(m []protocol.Envelope) []string {
		out := []string{}
		for _, e := range m {
			out = append(out, e.ID)
		}
		return out
	}

	msgs, truncated := mergeNewest(primary, fallback, 10, 2*one)
	assert.Equal(t, []string{"d", "e"}, ids(msgs))
	assert.True(t, truncated)
	msgs, truncated = mergeNewest(primary, fallback, 10, 5*one)
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, ids(msgs))
	assert.False(t, truncated, "exactly the budget fits")
	msgs, truncated = mergeNewest(primary, fallback, 10, 1)
	assert.Equal(t, []string{"e"}, ids(msgs), "the newest message stays whatever its size")
	assert.True(t, truncated)
}

func TestMergeStopsAtTheOldestMessageOfAStoreThatTruncated(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	env := func(id string, s int) protocol.Envelope {
		return protocol.Envelope{ID: id, Timestamp: t0.Add(time.Duration(s) * time.Second)}
	}
	ids := func(m []protocol.Envelope) []string {
		out := []string{}
		for _, e := range m {
			out = append(out, e.ID)
		}
		return out
	}
	// The primary stopped at "c": its messages before 3 s were left out, so
	// the fallback's "a" (1 s) would sit past a hole.
	primary := Page{Messages: []protocol.Envelope{env("c", 3), env("e", 5)}, Truncated: true}
	fallback := Page{Messages: []protocol.Envelope{env("a", 1), env("d", 4)}}
	msgs, truncated := mergeNewest(primary, fallback, 10, 0)
	assert.Equal(t, []string{"c", "d", "e"}, ids(msgs))
	assert.True(t, truncated)
	msgs, truncated = mergeNewest(fallback, primary, 10, 0)
	assert.Equal(t, []string{"c", "d", "e"}, ids(msgs), "whichever side truncated")
	assert.True(t, truncated)
	msgs, truncated = mergeNewest(Page{Messages: primary.Messages}, fallback, 10, 0)
	assert.Equal(t, []string{"a", "c", "d", "e"}, ids(msgs), "without truncation every message is merged")
	assert.False(t, truncated)
}

func TestQueryLimitIsClamped(t *testing.T) {
	for limit, want := range map[int]int{-1: 50, 0: 50, 1: 1, 500: 500, 501: 500} {
		assert.Equal(t, want, Query{Limit: limit}.EffectiveLimit(), "limit %d", limit)
	}
}
