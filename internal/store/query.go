package store

// DefaultHistoryLimit is the page size used when Query.Limit is not set (the
// history command's default).
const DefaultHistoryLimit = 50

// EffectiveLimit returns q.Limit forced into 1..MaxHistoryLimit, with
// DefaultHistoryLimit for a zero or negative limit. Backends and the policy
// all page with it so that one query means the same everywhere.
func (q Query) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultHistoryLimit
	case q.Limit > MaxHistoryLimit:
		return MaxHistoryLimit
	default:
		return q.Limit
	}
}
