package redisstore

import (
	"math"
	"strconv"
	"strings"
)

// streamID is a Redis stream entry id "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

var (
	minID = streamID{0, 0}
	maxID = streamID{math.MaxUint64, math.MaxUint64}
)

func parseStreamID(s string) (streamID, bool) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	return streamID{ms, seq}, err1 == nil && err2 == nil
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq
}
