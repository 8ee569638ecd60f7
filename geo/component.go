package geo

// A component is one cluster: a connected set of cells holding core points,
// with the border points anchored in them. Its identity (ident) moves between
// component structs when a merge or split keeps the larger struct but
// another cluster's id.
type component struct {
	ident
	cells   []*cell
	size    int32 // core points plus border points
	cores   int32
	dead    bool   // it has no cells left
	merged  bool   // it died by being merged into another
	checked uint64 // step in which checkSplits searched it
}

// ident is a cluster's identity and what happened to it in the current step.
type ident struct {
	id        ClusterID
	touched   uint64 // step in which pre* were recorded
	born      uint64 // step in which the cluster appeared; 0 if before any
	fromSplit bool   // it appeared by splitting off another cluster
	preSize   int32
	preCores  int32
	absorbed  []ClusterID // clusters merged into it in this step
	splitInto []ClusterID // clusters split off it in this step
}

func (d *Detector) beginStep() {
	d.step++
	d.mark++ // fresh marks for suspects
	d.touched = d.touched[:0]
	d.suspects = d.suspects[:0]
}

// touch records a component's size before the step changes it.
func (d *Detector) touch(c *component) {
	if c.touched == d.step {
		return
	}
	c.touched = d.step
	c.preSize, c.preCores = c.size, c.cores
	c.absorbed = c.absorbed[:0]
	c.splitInto = c.splitInto[:0]
	if c.born != d.step {
		c.fromSplit = false
	}
	d.touched = append(d.touched, c)
}

func (d *Detector) allocComponent() *component {
	var c *component
	if n := len(d.spare); n > 0 {
		c = d.spare[n-1]
		d.spare = d.spare[:n-1]
		abs, spl := c.absorbed[:0], c.splitInto[:0]
		*c = component{cells: c.cells[:0]}
		c.absorbed, c.splitInto = abs, spl
	} else {
		c = &component{}
	}
	d.nextID++
	c.id = d.nextID
	c.born = d.step
	d.byID[c.id] = c
	return c
}

// newComponent starts a cluster made of cell a alone.
func (d *Detector) newComponent(a *cell) *component {
	c := d.allocComponent()
	d.touch(c)
	a.comp = c
	a.compPos = 0
	c.cells = append(c.cells, a)
	return c
}

// edgeTo returns the index of a's edge to b, or -1.
func edgeTo(a, b *cell) int {
	for k := range a.edges {
		if a.edges[k].to == b {
			return k
		}
	}
	return -1
}

// owns reports whether cell a, rather than b, holds the count of their link.
func owns(a, b *cell) bool {
	return a.row < b.row || a.row == b.row && a.col < b.col
}

// link counts k more pairs of neighbouring core points between cells a and
// b, merging their clusters when the cells were not linked yet. Only the
// owner's count changes, so that an existing link owned by a leaves b alone.
func (d *Detector) link(a, b *cell, k int32) {
	if i := edgeTo(a, b); i >= 0 {
		if e := &a.edges[i]; e.n != notOwner {
			e.n += k
		} else {
			b.edges[e.back].n += k
		}
		return
	}
	ea := edge{to: b, n: notOwner, back: int32(len(b.edges))}
	eb := edge{to: a, n: notOwner, back: int32(len(a.edges))}
	if owns(a, b) {
		ea.n = k
	} else {
		eb.n = k
	}
	a.edges = append(a.edges, ea)
	b.edges = append(b.edges, eb)
	if a.comp != b.comp {
		d.merge(a.comp, b.comp)
	}
}

// unlink counts k pairs fewer between cells a and b; when none is left the
// cells are unlinked and both become suspects of a split.
func (d *Detector) unlink(a, b *cell, k int32) {
	ka := edgeTo(a, b)
	e := &a.edges[ka]
	kb := int(e.back)
	n := &e.n
	if *n == notOwner {
		n = &b.edges[kb].n
	}
	if *n -= k; *n > 0 {
		return
	}
	dropEdge(a, ka)
	dropEdge(b, kb)
	d.suspect(a)
	d.suspect(b)
}

// dropEdge removes a's edge k, moving its last edge into its place.
func dropEdge(a *cell, k int) {
	es := a.edges
	last := len(es) - 1
	if k != last {
		es[k] = es[last]
		m := &es[k]
		m.to.edges[m.back].back = int32(k)
	}
	es[last] = edge{}
	a.edges = es[:last]
}

func (d *Detector) suspect(a *cell) {
	if a.mark != d.mark {
		a.mark = d.mark
		d.suspects = append(d.suspects, a)
	}
}

// survives reports whether cluster x keeps its id when merged with y: the
// one that had more calls before the step, then the older one.
func survives(x, y *component) bool {
	if x.preSize != y.preSize {
		return x.preSize > y.preSize
	}
	return x.id < y.id
}

// merge joins clusters x and y. The struct with more cells takes the other's
// cells; the identity that survives is chosen by survives.
func (d *Detector) merge(x, y *component) {
	d.touch(x)
	d.touch(y)
	keepX := survives(x, y)
	if len(x.cells) < len(y.cells) {
		x, y = y, x
		keepX = !keepX
	}
	// x is the bigger struct; it takes y's cells.
	for _, c := range y.cells {
		c.comp = x
		c.compPos = int32(len(x.cells))
		x.cells = append(x.cells, c)
	}
	clear(y.cells)
	y.cells = y.cells[:0]
	x.size += y.size
	x.cores += y.cores
	y.size, y.cores = 0, 0
	if !keepX {
		x.ident, y.ident = y.ident, x.ident
		d.byID[x.id] = x
	}
	delete(d.byID, y.id)
	// x now holds the survivor's identity and y the absorbed one.
	if y.born != d.step {
		x.absorbed = append(x.absorbed, y.id)
	}
	x.absorbed = append(x.absorbed, y.absorbed...)
	y.absorbed = y.absorbed[:0]
	y.dead = true
	y.merged = true
}

// leave takes cell a, which no longer holds a core point, out of its
// cluster.
func (d *Detector) leave(a *cell) {
	c := a.comp
	last := len(c.cells) - 1
	if int(a.compPos) != last {
		moved := c.cells[last]
		c.cells[a.compPos] = moved
		moved.compPos = a.compPos
	}
	c.cells[last] = nil
	c.cells = c.cells[:last]
	a.comp = nil
	if last == 0 {
		c.dead = true
		delete(d.byID, c.id)
	}
}

// bfsState is scratch space for checkSplits.
type bfsState struct {
	parent  []int32
	queue   [][]*cell
	head    []int
	visited [][]*cell
	done    []bool
	starts  []*cell
}

func (b *bfsState) find(f int32) int32 {
	for b.parent[f] != f {
		b.parent[f] = b.parent[b.parent[f]]
		f = b.parent[f]
	}
	return f
}

// checkSplits finds the clusters that lost a link or a cell in this step and
// splits those no longer connected. For each such cluster it runs one
// breadth-first search per suspect cell, in turns, joining searches that
// meet; a search that runs out of cells before meeting the others has found
// a separate cluster. The work is bounded by the size of the smaller parts,
// or by how far the searches go before they meet.
func (d *Detector) checkSplits() {
	if len(d.suspects) < 2 {
		return
	}
	for si, s := range d.suspects {
		comp := s.comp
		if s.cores == 0 || comp == nil || comp.checked == d.step {
			continue
		}
		comp.checked = d.step
		starts := d.bfs.starts[:0]
		for _, t := range d.suspects[si:] {
			if t.cores > 0 && t.comp == comp {
				starts = append(starts, t)
			}
		}
		d.bfs.starts = starts
		if len(starts) >= 2 && !joinedNearby(starts) {
			d.splitSearch(comp, starts)
		}
	}
	clear(d.bfs.starts)
}

// joinedNearby reports whether the cells are all connected through links
// between them or common linked neighbours, found without leaving the
// cells' own edges. The cells of a cluster that lost links stay connected
// when the cells at the ends of the lost links are, so that a true answer
// spares the search; a false one proves nothing.
func joinedNearby(cells []*cell) bool {
	const most = 8
	n := len(cells)
	if n > most {
		return false
	}
	var parent [most]int
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	groups := n
	for i := 0; i < n && groups > 1; i++ {
		for j := i + 1; j < n && groups > 1; j++ {
			if fi, fj := find(i), find(j); fi != fj && nearby(cells[i], cells[j]) {
				parent[fj] = fi
				groups--
			}
		}
	}
	return groups == 1
}

// nearby reports whether cells a and b are linked or share a linked
// neighbour.
func nearby(a, b *cell) bool {
	for _, e := range a.edges {
		if e.to == b {
			return true
		}
	}
	for _, e := range a.edges {
		for _, f := range b.edges {
			if e.to == f.to {
				return true
			}
		}
	}
	return false
}

func (d *Detector) splitSearch(comp *component, starts []*cell) {
	b := &d.bfs
	d.touch(comp)
	n := len(starts)
	d.mark++
	mark := d.mark
	b.parent = b.parent[:0]
	b.head = b.head[:0]
	b.done = b.done[:0]
	for len(b.queue) < n {
		b.queue = append(b.queue, nil)
		b.visited = append(b.visited, nil)
	}
	for f, s := range starts {
		b.parent = append(b.parent, int32(f))
		b.head = append(b.head, 0)
		b.done = append(b.done, false)
		b.queue[f] = append(b.queue[f][:0], s)
		b.visited[f] = append(b.visited[f][:0], s)
		s.mark = mark
		s.front = int32(f)
	}
	active := n
	for active > 1 {
		for f := int32(0); f < int32(n) && active > 1; f++ {
			if b.done[f] || b.parent[f] != f {
				continue
			}
			if b.head[f] == len(b.queue[f]) {
				// Front f is a whole cluster of its own.
				b.done[f] = true
				active--
				d.splitOff(comp, b.visited[f])
				continue
			}
			c := b.queue[f][b.head[f]]
			b.head[f]++
			for _, e := range c.edges {
				nb := e.to
				if nb.mark != mark {
					nb.mark = mark
					nb.front = f
					b.queue[f] = append(b.queue[f], nb)
					b.visited[f] = append(b.visited[f], nb)
					continue
				}
				g := b.find(nb.front)
				if g == f {
					continue
				}
				// Fronts f and g meet: fold g into f.
				b.parent[g] = f
				b.queue[f] = append(b.queue[f], b.queue[g][b.head[g]:]...)
				b.visited[f] = append(b.visited[f], b.visited[g]...)
				active--
				if active == 1 {
					break
				}
			}
		}
	}
	for f := 0; f < n; f++ {
		clear(b.queue[f])
		clear(b.visited[f])
	}
}

// splitOff moves cells out of comp into a new cluster.
func (d *Detector) splitOff(comp *component, cells []*cell) {
	piece := d.allocComponent()
	piece.checked = d.step
	d.touch(piece)
	piece.fromSplit = true
	for _, c := range cells {
		last := len(comp.cells) - 1
		if int(c.compPos) != last {
			moved := comp.cells[last]
			comp.cells[c.compPos] = moved
			moved.compPos = c.compPos
		}
		comp.cells[last] = nil
		comp.cells = comp.cells[:last]
		cores := c.cores
		c.comp = piece
		c.compPos = int32(len(piece.cells))
		piece.cells = append(piece.cells, c)
		n := cores + c.anchored
		piece.size += n
		piece.cores += cores
		comp.size -= n
		comp.cores -= cores
	}
	comp.splitInto = append(comp.splitInto, piece.id)
	// The larger part keeps the cluster's id.
	if piece.size > comp.size {
		piece.ident, comp.ident = comp.ident, piece.ident
		d.byID[piece.id] = piece
		d.byID[comp.id] = comp
	}
}

// endStep turns what happened to the touched clusters into events.
func (d *Detector) endStep(call string) {
	at := d.Now()
	for _, c := range d.touched {
		ev := Event{Rule: d.rule.Name, Cluster: c.id, At: at, Call: call, Calls: int(c.size), Cores: int(c.cores)}
		switch {
		case c.dead:
			if !c.merged && c.born != d.step {
				ev.Kind = EventDissolved
				*d.events = append(*d.events, ev)
			}
			continue
		case c.fromSplit:
			continue
		case len(c.splitInto) > 0:
			ev.Kind = EventSplit
			ev.Others = append([]ClusterID(nil), c.splitInto...)
		case c.born == d.step:
			ev.Kind = EventFormed
		case len(c.absorbed) > 0:
			ev.Kind = EventMerged
			ev.Others = append([]ClusterID(nil), c.absorbed...)
		case c.size > c.preSize:
			ev.Kind = EventGrew
		case c.size < c.preSize:
			ev.Kind = EventShrank
		default:
			continue
		}
		*d.events = append(*d.events, ev)
	}
	for _, c := range d.touched {
		if c.dead {
			c.dead = false
			c.merged = false
			d.spare = append(d.spare, c)
		}
	}
	d.touched = d.touched[:0]
}
