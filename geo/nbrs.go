package geo

import "math/bits"

// Neighbour lists live in one arena, d.nbuf, in runs of a power of two
// entries; a point's hotPoint holds its run's offset, length and size class.
// Freed runs are kept by size class for reuse. The arena holds no pointers,
// so the garbage collector does not scan it, and a list costs no allocation
// once the arena has grown to the window's needs.

// minClass is the size class of the smallest run: 1<<minClass entries.
const minClass = 3

// nbrs returns point i's neighbour list. It is valid until the next
// addNbr or newList.
func (d *Detector) nbrs(i int32) []nref {
	h := &d.hot[i]
	return d.nbuf[h.off : h.off+h.len : h.off+h.len]
}

// newList gives point i an empty list with room for at least n entries,
// freeing the list it had.
func (d *Detector) newList(i int32, n int) {
	h := &d.hot[i]
	d.freeList(h)
	class := listClass(n)
	h.off, h.len, h.class = d.run(int(class)), 0, class
}

// listClass returns the size class of the smallest run of at least n
// entries.
func listClass(n int) uint8 {
	return uint8(max(minClass, bits.Len(uint(n-1))))
}

// freeList returns h's run, if it has one, to the free runs.
func (d *Detector) freeList(h *hotPoint) {
	if h.class != 0 {
		d.freeRuns[h.class] = append(d.freeRuns[h.class], h.off)
		h.off, h.len, h.class = 0, 0, 0
	}
}

// run returns the offset of a free run of size class c.
func (d *Detector) run(c int) int32 {
	for len(d.freeRuns) <= c {
		d.freeRuns = append(d.freeRuns, nil)
	}
	if f := d.freeRuns[c]; len(f) > 0 {
		off := f[len(f)-1]
		d.freeRuns[c] = f[:len(f)-1]
		return off
	}
	off := len(d.nbuf)
	if off+1<<c > maxArena {
		panic("geo: neighbour lists exceed the arena")
	}
	d.nbuf = append(d.nbuf, make([]nref, 1<<c)...)
	return int32(off)
}

// maxArena bounds the arena so that offsets fit in an int32.
const maxArena = 1<<31 - 1

// addNbr appends r to h's list, moving it to a run twice as large when it
// is full.
func (d *Detector) addNbr(h *hotPoint, r nref) {
	if h.len == 1<<h.class {
		c := int(h.class) + 1
		off := d.run(c)
		copy(d.nbuf[off:], d.nbuf[h.off:h.off+h.len])
		d.freeRuns[h.class] = append(d.freeRuns[h.class], h.off)
		h.off, h.class = off, uint8(c)
	}
	d.nbuf[h.off+h.len] = r
	h.len++
}
