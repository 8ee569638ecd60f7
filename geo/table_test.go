package geo

import (
	"math/rand/v2"
	"strconv"
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

// TestIDTable checks the id table against a Go map under random insertions
// and deletions, with a hash that collides often so that probes run long and
// equal hashes must be told apart by the ids.
func TestIDTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	tab := newIDTable()
	var pts []point
	want := map[string]int32{}
	hash := func(id string) uint64 { return idHash(id) % 97 }
	for i := 0; i < 100_000; i++ {
		id := strconv.Itoa(rng.IntN(4000))
		h := hash(id)
		got := tab.find(h, id, pts)
		w, ok := want[id]
		if !ok {
			w = -1
		}
		if got != w {
			t.Fatalf("find(%q) = %d, want %d", id, got, w)
		}
		if ok {
			if rng.IntN(2) == 0 {
				tab.del(h, w)
				delete(want, id)
			}
			continue
		}
		idx := int32(len(pts))
		pts = append(pts, point{id: id})
		tab.put(h, idx)
		want[id] = idx
	}
	if tab.n != len(want) {
		t.Fatalf("%d ids, want %d", tab.n, len(want))
	}
}
