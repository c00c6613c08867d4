package memstore_test

import (
	"testing"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memstore.New(storetest.MinCapacity) })
}
