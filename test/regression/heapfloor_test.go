package regression

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The heap floor's GC percentage, (floor - live) × 100 / live, was made an
// int before its cap of 1000: on 32-bit platforms a nearly empty heap made it
// wrap negative, and a negative percentage turns the collector off. Found
// once the unit tier ran as linux/386; the cap now applies while unsigned.
// The test needs a host that executes 32-bit x86 programs and skips, saying
// so, on one that cannot.
func TestRegression_TheHeapFloorPercentageDoesNotWrapOnThirtyTwoBits(t *testing.T) {
	testutil.RequireExec(t, "386")
	cmd := exec.Command("go", "test", "-count=1", "-v", "-run", "^TestHeapFloorPercentPutsTheGoalAtTheFloor$",
		"github.com/arqonbus/arqonbus/internal/app")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=386", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the heap floor's tests as linux/386:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestHeapFloorPercentPutsTheGoalAtTheFloor", "go test printed:\n%s", out)
}
