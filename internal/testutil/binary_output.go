package testutil

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// procOutput collects one output stream of a binary: each complete line is
// logged through t.Log with a prefix and kept for assertions; waiters learn
// about new lines through changed.
type procOutput struct {
	t      testing.TB
	prefix string

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   []string
	notify  chan struct{} // closed and replaced on every new line
}

func newProcOutput(t testing.TB, prefix string) *procOutput {
	return &procOutput{t: t, prefix: prefix, notify: make(chan struct{})}
}

func (o *procOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.Write(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.addLine(string(o.partial[:i]))
		o.partial = o.partial[i+1:]
	}
	return len(b), nil
}

// flush emits a last line without a newline. Called after the process exited.
func (o *procOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.addLine(string(o.partial))
		o.partial = nil
	}
}

func (o *procOutput) addLine(line string) {
	o.t.Logf("%s: %s", o.prefix, line)
	o.lines = append(o.lines, line)
	close(o.notify)
	o.notify = make(chan struct{})
}

// changed returns a channel closed at the next new line.
func (o *procOutput) changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}

// match returns the submatches of the first line matching re, or nil.
func (o *procOutput) match(re *regexp.Regexp) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

func (o *procOutput) contains(s string) bool {
	return strings.Contains(o.String(), s)
}

func (o *procOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.String()
}
