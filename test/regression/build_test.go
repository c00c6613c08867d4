package regression

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The WebSocket reader's readiness peek named syscall.SYS_RECVFROM, which the
// syscall package does not define for linux/386 (there, socket calls went
// through socketcall), so the server did not build for 32-bit x86 Linux at
// all. The peek now takes the number from golang.org/x/sys/unix, which has it
// on every Linux architecture, and `make lint` builds for 386 too.
func TestRegression_TheServerBuildsForThirtyTwoBitLinux(t *testing.T) {
	cmd := exec.Command("go", "build", "-o", os.DevNull, "github.com/arqonbus/arqonbus/cmd/arqonbus")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=386", "CGO_ENABLED=0")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build for linux/386:\n%s", out)
	t.Logf("built for linux/386 in %s", time.Since(began).Round(time.Millisecond))
}
