package memstore

import (
	"testing"
	"unsafe"
)

func TestAShardFillsOneCacheLine(t *testing.T) {
	if got := unsafe.Sizeof(shard{}); got != 64 {
		t.Fatalf("shard is %d bytes, want 64", got)
	}
}
