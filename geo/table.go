package geo

// blockTable maps block keys to the occupied blocks: an open-addressing hash
// table with linear probing, which a neighbourhood query reads several times
// per arrival, faster than a Go map for this one key type. A slot is empty
// when its block is nil; deletion shifts the following slots back, so that no
// tombstones build up.
type blockTable struct {
	slots []blockSlot
	mask  uint64
	shift uint8
	n     int
}

type blockSlot struct {
	key uint64
	b   *block
}

func newBlockTable() blockTable {
	var t blockTable
	t.resize(64)
	return t
}

func (t *blockTable) resize(size int) {
	old := t.slots
	t.slots = make([]blockSlot, size)
	t.mask = uint64(size - 1)
	t.shift = uint8(64)
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.n = 0
	for _, s := range old {
		if s.b != nil {
			t.put(s.key, s.b)
		}
	}
}

func (t *blockTable) home(key uint64) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> t.shift
}

// get returns the block with the key, or nil.
func (t *blockTable) get(key uint64) *block {
	for i := t.home(key); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.b == nil || s.key == key {
			return s.b
		}
	}
}

// put adds a block whose key is not in the table yet.
func (t *blockTable) put(key uint64, b *block) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	i := t.home(key)
	for t.slots[i].b != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i] = blockSlot{key: key, b: b}
	t.n++
}

// del removes the key, which must be in the table.
func (t *blockTable) del(key uint64) {
	i := t.home(key)
	for t.slots[i].key != key || t.slots[i].b == nil {
		i = (i + 1) & t.mask
	}
	// Shift back the slots after i that probed past it.
	for j := (i + 1) & t.mask; t.slots[j].b != nil; j = (j + 1) & t.mask {
		h := t.home(t.slots[j].key)
		// Slot j may move to i when its home is not in (i, j], cyclically.
		if (j-h)&t.mask >= (j-i)&t.mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = blockSlot{}
	t.n--
}

// all calls f on every block.
func (t *blockTable) all(f func(*block)) {
	for _, s := range t.slots {
		if s.b != nil {
			f(s.b)
		}
	}
}
