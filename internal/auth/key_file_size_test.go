package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAKeyFileMayHoldOneMebibyte: the size bound on key files is inclusive;
// a file of exactly 1 MiB is read (and then judged as a key), one byte more
// is refused unread.
func TestAKeyFileMayHoldOneMebibyte(t *testing.T) {
	data, err := readKeyFile(writeFile(t, "exact.pem", make([]byte, 1<<20)))
	require.NoError(t, err)
	assert.Len(t, data, 1<<20)

	_, err = readKeyFile(writeFile(t, "over.pem", make([]byte, 1<<20+1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 1048576 bytes")
}
