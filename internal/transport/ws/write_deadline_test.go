package ws

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// deadlineConn is a socket whose writes succeed at once; it records the
// write deadlines set on it and reports each write on written.
type deadlineConn struct {
	discardConn
	written   chan struct{}
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	n, err := d.discardConn.Write(p)
	d.written <- struct{}{}
	return n, err
}

func (d *deadlineConn) SetWriteDeadline(at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadlines = append(d.deadlines, at)
	return nil
}

func (d *deadlineConn) setDeadlines() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.deadlines...)
}

// The write deadline is WriteTimeout from the write that set it, and it is
// moved for a later write only once a quarter of it is used up, so every
// write starts with at least three quarters of WriteTimeout ahead.
func TestTheWriteDeadlineIsMovedOnceAQuarterOfItIsUsed(t *testing.T) {
	for _, c := range []struct {
		name          string
		writeTimeout  time.Duration
		pause         time.Duration // between the first write and the second send
		wantDeadlines int
	}{
		{"a second write within the first quarter keeps the deadline", time.Hour, 0, 1},
		{"a second write after the first quarter moves it", 400 * time.Millisecond, 150 * time.Millisecond, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewServer(testOptions(func(o *Options) { o.WriteTimeout = c.writeTimeout }))
			s.linger = time.Hour // one writer serves both writes
			nc := &deadlineConn{written: make(chan struct{})}
			conn := s.newConn(nc, nil, nil, auth.Identity{Role: auth.RoleUser})
			t.Cleanup(func() {
				conn.closeWith(0, "")
				<-conn.writerDone()
			})
			start := time.Now()
			require.True(t, conn.Send([]byte(`{"n":1}`)))
			<-nc.written
			first := time.Now() // the first write set its deadline before this
			eventually(t, time.Minute, func() bool { return time.Since(first) > c.pause },
				"the pause between the writes")
			require.True(t, conn.Send([]byte(`{"n":2}`)))
			<-nc.written
			got := nc.setDeadlines()
			require.Len(t, got, c.wantDeadlines)
			assert.WithinDuration(t, start.Add(c.writeTimeout), got[0], time.Second)
		})
	}
}
