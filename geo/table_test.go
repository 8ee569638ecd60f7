package geo

import (
	"math/rand/v2"
	"testing"
)

// TestBlockTable checks the block table against a Go map under random
// insertions and deletions, with keys crowded so that probes run long.
func TestBlockTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	tab := newBlockTable()
	want := map[uint64]*block{}
	for i := 0; i < 200_000; i++ {
		k := uint64(rng.IntN(3000)) << (32 * rng.IntN(2))
		if b, ok := want[k]; ok {
			if got := tab.get(k); got != b {
				t.Fatalf("get(%x) = %p, want %p", k, got, b)
			}
			if rng.IntN(2) == 0 {
				tab.del(k)
				delete(want, k)
			}
			continue
		}
		if got := tab.get(k); got != nil {
			t.Fatalf("get(%x) = %p, want nil", k, got)
		}
		b := &block{}
		tab.put(k, b)
		want[k] = b
	}
	if tab.n != len(want) {
		t.Fatalf("%d blocks, want %d", tab.n, len(want))
	}
	seen := 0
	tab.all(func(b *block) { seen++ })
	if seen != len(want) {
		t.Fatalf("all visits %d blocks, want %d", seen, len(want))
	}
	for k, b := range want {
		if got := tab.get(k); got != b {
			t.Fatalf("get(%x) = %p, want %p", k, got, b)
		}
	}
}
