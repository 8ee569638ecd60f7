package geo

import "math/bits"

// Neighbour lists live in one arena, d.nbuf, in runs of a power of two
// entries; a point's hotPoint holds its run's offset, length and size class.
// Freed runs are kept by size class for reuse. The arena holds no pointers,
// so the garbage collector does not scan it, and a list costs no allocation
// once the arena has grown to the window's needs.
//
// The latest entries of a list wait in its hotPoint's tail, and go to the
// arena a tail at a time: an arrival adds itself to the list of each of its
// neighbours, whose hotPoint it reads anyway, and so reaches into the arena
// for one neighbour in len(tail) rather than for every one. The run always
// has room for the tail.

// minClass is the size class of the smallest run: 1<<minClass entries.
const minClass = 3

// nbrs returns point i's neighbour list, moving its tail to the arena. It
// is valid until the next addNbr or newList.
func (d *Detector) nbrs(i int32) []nref {
	h := &d.hot[i]
	d.flush(h)
	return d.nbuf[h.off : h.off+h.len : h.off+h.len]
}

// flush moves h's tail to the arena.
func (d *Detector) flush(h *hotPoint) {
	if h.nin > 0 {
		dst := d.nbuf[h.off+h.len : h.off+h.len+int32(h.nin)]
		for k := range h.tail[:h.nin] {
			dst[k] = h.tail[k]
		}
		h.len += int32(h.nin)
		h.nin = 0
	}
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

// pushTail appends r to h's tail when that leaves the tail not yet full and
// the run has room for it, and reports whether it did: addNbr's common
// case, small enough to be inlined where an arrival adds itself to each of
// its neighbours.
func (h *hotPoint) pushTail(r nref) bool {
	if int(h.nin) < len(h.tail)-1 && h.len+int32(h.nin) < 1<<h.class {
		h.tail[h.nin] = r
		h.nin++
		return true
	}
	return false
}

// addNbr appends r to h's list, through its tail, moving the list to a run
// twice as large when the run has no room left for the tail.
func (d *Detector) addNbr(h *hotPoint, r nref) {
	if h.len+int32(h.nin) == 1<<h.class {
		c := int(h.class) + 1
		off := d.run(c)
		copy(d.nbuf[off:], d.nbuf[h.off:h.off+h.len])
		d.freeRuns[h.class] = append(d.freeRuns[h.class], h.off)
		h.off, h.class = off, uint8(c)
	}
	h.tail[h.nin] = r
	if h.nin++; int(h.nin) == len(h.tail) {
		d.flush(h)
	}
}
