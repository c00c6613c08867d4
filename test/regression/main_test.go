package regression

import (
	"testing"

	"go.uber.org/goleak"
)

// go-redis backs off a failed dial in a goroutine that outlives the client
// by up to a second.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
