package ws

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A close frame is a control frame: its payload, the two-byte code and the
// reason, never exceeds 125 bytes, and a reason that fits is sent whole.
func TestACloseReasonIsCutToFitAControlFrame(t *testing.T) {
	for _, c := range []struct {
		name   string
		reason string
		want   string
	}{
		{"an empty reason stays empty", "", ""},
		{"a reason of 123 bytes fits exactly", strings.Repeat("r", 123), strings.Repeat("r", 123)},
		{"a reason of 124 bytes loses its last byte", strings.Repeat("r", 124), strings.Repeat("r", 123)},
		{"a long reason keeps its first 123 bytes", strings.Repeat("r", 500), strings.Repeat("r", 123)},
		{"a cut never splits a character", strings.Repeat("r", 122) + "é", strings.Repeat("r", 122)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := closePayload(closeSlowConsumer, c.reason)
			assert.LessOrEqual(t, len(p), maxControlPayload)
			assert.Equal(t, closeSlowConsumer, int(binary.BigEndian.Uint16(p)))
			assert.Equal(t, c.want, string(p[2:]))
		})
	}
}
