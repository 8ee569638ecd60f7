package geo

import "hash/maphash"

// idTable finds the points in the window by id: an open-addressing hash
// table with linear probing that keeps each id's hash beside its slot, so
// that adding an id costs one hash and one probe, removing one needs no
// hash and no look at the id, and only a matching hash leads to comparing
// ids. Deletion shifts the following slots back, leaving no tombstones.
type idTable struct {
	slots []idSlot
	mask  uint64
	n     int
}

type idSlot struct {
	hash uint64
	idx  int32 // the point's slot plus one; 0 when empty
}

// idSeed is shared by all detectors, so that a Set hashes a call's id once
// for all its rules.
var idSeed = maphash.MakeSeed()

func idHash(id string) uint64 { return maphash.String(idSeed, id) }

func newIDTable() idTable {
	var t idTable
	t.resize(64)
	return t
}

func (t *idTable) resize(size int) {
	old := t.slots
	t.slots = make([]idSlot, size)
	t.mask = uint64(size - 1)
	t.n = 0
	for _, s := range old {
		if s.idx != 0 {
			t.put(s.hash, s.idx-1)
		}
	}
}

// find returns the slot of the point whose id is id and hashes to h, or -1;
// pts holds the points' ids.
func (t *idTable) find(h uint64, id string, pts []point) int32 {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.idx == 0 {
			return -1
		}
		if s.hash == h && pts[s.idx-1].id == id {
			return s.idx - 1
		}
	}
}

// put adds point idx, whose id hashes to h.
func (t *idTable) put(h uint64, idx int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	i := h & t.mask
	for t.slots[i].idx != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = idSlot{hash: h, idx: idx + 1}
	t.n++
}

// del removes point idx, whose id hashes to h; it must be in the table.
func (t *idTable) del(h uint64, idx int32) {
	i := h & t.mask
	for t.slots[i].idx != idx+1 {
		i = (i + 1) & t.mask
	}
	// Shift back the slots after i that probed past it.
	for j := (i + 1) & t.mask; t.slots[j].idx != 0; j = (j + 1) & t.mask {
		home := t.slots[j].hash & t.mask
		if (j-home)&t.mask >= (j-i)&t.mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = idSlot{}
	t.n--
}
