package main

import (
	"bytes"
	"sync/atomic"
	"time"
)

// sink is one receiving connection's view of the stream it listens to. Its
// onFrame runs on that connection's reader goroutine only, so its fields
// need no locks; they are read once the connection is closed. Shared totals
// (the latency histogram, the received counter the drain watches) are
// atomic.
type sink struct {
	warm, total int64 // sequence numbers below warm are warm-up; total is the plan
	hist        *histogram
	received    *atomic.Int64

	seen   []uint64 // bit per measured sequence number: duplicate detection
	maxSeq int64
	got    int64 // distinct measured messages
	dup    int64
	ooo    int64 // arrived after a later one
	other  int64 // frames that are not bench payloads of the plan
	last   int64 // arrival of the latest measured message, unix ns
}

func newSink(warm, total int64, hist *histogram, received *atomic.Int64) *sink {
	return &sink{warm: warm, total: total, hist: hist, received: received,
		seen: make([]uint64, (total-warm+63)/64), maxSeq: -1}
}

func (s *sink) onFrame(frame []byte) {
	now := time.Now().UnixNano()
	ts, seq, ok := parsePayload(frame)
	if !ok || seq >= s.total {
		s.other++
		return
	}
	if seq < s.warm {
		return
	}
	i := seq - s.warm
	word, bit := i>>6, uint64(1)<<(i&63)
	if s.seen[word]&bit != 0 {
		s.dup++
		return
	}
	s.seen[word] |= bit
	if seq < s.maxSeq {
		s.ooo++
	} else {
		s.maxSeq = seq
	}
	s.got++
	s.last = now
	s.hist.Record(time.Duration(now - ts))
	s.received.Add(1)
}

// acks counts a publisher's replies: message_response acks (with the
// delivered counts they report) and errors.
type acks struct {
	n, errs, delivered atomic.Int64
	firstErr           atomic.Pointer[string]
}

var (
	ackType       = []byte(`"type":"message_response"`)
	errorType     = []byte(`"type":"error"`)
	deliveredKey  = []byte(`"delivered":`)
	maxErrorQuote = 300 // bytes of the first error frame kept for the report
)

func (a *acks) onFrame(frame []byte) {
	switch {
	case bytes.Contains(frame, ackType):
		a.n.Add(1)
		if i := bytes.Index(frame, deliveredKey); i >= 0 {
			v, _ := parseInt(frame[i+len(deliveredKey):])
			a.delivered.Add(v)
		}
	case bytes.Contains(frame, errorType):
		a.errs.Add(1)
		s := string(frame[:min(len(frame), maxErrorQuote)])
		a.firstErr.CompareAndSwap(nil, &s)
	}
}
