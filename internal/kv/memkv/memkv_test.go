package memkv_test

import (
	"testing"

	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/kvtest"
	"github.com/arqonbus/arqonbus/internal/kv/memkv"
)

func TestMemoryStoreMeetsTheContract(t *testing.T) {
	kvtest.Run(t, func(_ *testing.T, clock *kvtest.Clock) kv.Store {
		return memkv.New(memkv.Options{Limits: kvtest.Limits, Clock: clock.Now})
	})
}
