package geo

import (
	"cmp"
	"slices"
)

// Cluster returns the summary of the live cluster with the given id, as
// Clusters would give it, and false when no such cluster is alive. It costs
// time in proportion to the cluster's size and its members' neighbours,
// plus a scan of the occupied grid cells to find it.
func (d *Detector) Cluster(id ClusterID) (Cluster, bool) {
	var comp *component
	for _, c := range d.cells {
		if c.comp != nil && c.comp.id == id && !c.comp.dead {
			comp = c.comp
			break
		}
	}
	if comp == nil {
		return Cluster{}, false
	}
	var members []int32
	seen := make(map[int32]bool)
	for _, c := range comp.cells {
		for _, e := range c.pts {
			p := &d.pts[e.idx]
			if !p.core || seen[e.idx] {
				continue
			}
			seen[e.idx] = true
			members = append(members, e.idx)
			for _, n := range p.nbrs {
				q := &d.pts[n.idx]
				if q.gen != n.gen || q.cell == nil || q.core || q.anchor != e.idx || seen[n.idx] {
					continue
				}
				seen[n.idx] = true
				members = append(members, n.idx)
			}
		}
	}
	if len(members) == 0 {
		return Cluster{}, false
	}
	slices.SortFunc(members, func(a, b int32) int {
		p, q := &d.pts[a], &d.pts[b]
		if c := cmp.Compare(p.t, q.t); c != 0 {
			return c
		}
		return cmp.Compare(p.seq, q.seq)
	})
	return d.summarise(id, members), true
}
