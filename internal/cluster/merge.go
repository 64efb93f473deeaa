package cluster

import (
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/unionfind"
)

// MergeModes groups converged modes (row-major M×dim, scaled units) whose
// Euclidean distance is below radius: first each mode joins the first
// earlier "leader" within radius/2, or becomes a leader (this collapses the
// many near-identical copies of one mode cheaply); then leaders closer than
// radius are united (union-find), so chains of modes merge (single linkage
// at the leader level). It returns per-mode
// labels, the cluster centres (mean of member modes, same units as modes)
// and sizes, clusters ordered by size descending (ties by first member).
// A spatial hash on the first min(dim,3) axes keeps it near-linear.
func MergeModes(modes []float32, dim int, radius float64) (labels []int32, centers []float32, sizes []int) {
	m := len(modes) / dim
	if m == 0 {
		return make([]int32, 0), nil, nil
	}
	ld := newLeaders(dim, radius)
	labels = ld.group(modes)
	uf := ld.unite(modes)
	labels, count, sum := clustersOfRoots(labels, uf, modes, dim)
	return orderClusters(labels, count, sum, dim)
}

// leaders is the first phase of MergeModes: the leader modes and a spatial
// hash of them (cells of side radius on the first min(dim,3) axes).
type leaders struct {
	dim, sd int
	radius  float64
	r2      float64
	cells   map[[3]int64][]int32
	mode    []int32 // mode index of each leader
}

func newLeaders(dim int, radius float64) *leaders {
	return &leaders{dim: dim, sd: min(dim, 3), radius: radius, r2: radius * radius, cells: map[[3]int64][]int32{}}
}

func (ld *leaders) cellOf(p []float32) [3]int64 {
	var k [3]int64
	for a := 0; a < ld.sd; a++ {
		k[a] = int64(math.Floor(float64(p[a]) / ld.radius))
	}
	return k
}

func (ld *leaders) dist2(p, q []float32) float64 {
	var s float64
	for a := 0; a < ld.dim; a++ {
		d := float64(p[a]) - float64(q[a])
		s += d * d
	}
	return s
}

// at returns leader l's mode among modes.
func (ld *leaders) at(modes []float32, l int32) []float32 {
	i := int(ld.mode[l])
	return modes[i*ld.dim : (i+1)*ld.dim]
}

// visit calls f for each leader in the 3^sd cells around p until f returns
// false.
func (ld *leaders) visit(p []float32, f func(l int32) bool) {
	c := ld.cellOf(p)
	var lo, hi [3]int64
	for a := 0; a < ld.sd; a++ {
		lo[a], hi[a] = -1, 1
	}
	var off [3]int64
	for off[2] = lo[2]; off[2] <= hi[2]; off[2]++ {
		for off[1] = lo[1]; off[1] <= hi[1]; off[1]++ {
			for off[0] = lo[0]; off[0] <= hi[0]; off[0]++ {
				for _, l := range ld.cells[[3]int64{c[0] + off[0], c[1] + off[1], c[2] + off[2]}] {
					if !f(l) {
						return
					}
				}
			}
		}
	}
}

// group is MergeModes' first phase: each mode joins the first earlier
// leader within radius/2 or becomes a leader; it returns each mode's leader.
// Modes reached through the same remembered path are bit-identical: a
// repeat takes the leader of its first copy (the leader it would find
// itself is within radius/2 of the same point, hence united with that one
// by unite, so the partition is the same).
func (ld *leaders) group(modes []float32) []int32 {
	dim := ld.dim
	m := len(modes) / dim
	labels := make([]int32, m)
	firstCopy := newBoxTable(m/4 + 16)
	for i := 0; i < m; i++ {
		p := modes[i*dim : (i+1)*dim]
		h := uint64(0x243f6a8885a308d3)
		for _, x := range p {
			h = (h ^ uint64(math.Float32bits(x))) * 0x100000001b3
		}
		if j, ok := firstCopy.getOrPutH(h, boxHash(h), int32(i)); ok && equalModes(p, modes[int(j)*dim:int(j+1)*dim]) {
			labels[i] = labels[j]
			continue
		}
		found := int32(-1)
		ld.visit(p, func(l int32) bool {
			if ld.dist2(p, ld.at(modes, l)) < ld.r2/4 {
				found = l
				return false
			}
			return true
		})
		if found < 0 {
			found = int32(len(ld.mode))
			ld.mode = append(ld.mode, int32(i))
			k := ld.cellOf(p)
			ld.cells[k] = append(ld.cells[k], found)
		}
		labels[i] = found
	}
	return labels
}

// unite is MergeModes' second phase: leaders closer than radius are united.
func (ld *leaders) unite(modes []float32) *unionfind.UF {
	uf := unionfind.New(len(ld.mode))
	for li := range ld.mode {
		p := ld.at(modes, int32(li))
		ld.visit(p, func(l int32) bool {
			if l != int32(li) && ld.dist2(p, ld.at(modes, l)) < ld.r2 {
				uf.Union(int32(li), l)
			}
			return true
		})
	}
	return uf
}

// clustersOfRoots is MergeModes' third phase: every mode (labelled with its
// leader) gets the provisional cluster of its leader's root, numbered in
// order of first member; it returns those labels (in place), the clusters'
// mode counts and coordinate sums (float64, dim per cluster).
func clustersOfRoots(labels []int32, uf *unionfind.UF, modes []float32, dim int) ([]int32, []int, []float64) {
	rootID := make([]int32, uf.Len())
	for i := range rootID {
		rootID[i] = -1
	}
	var count []int
	var sum []float64
	for i := range labels {
		r := uf.Find(labels[i])
		if rootID[r] < 0 {
			rootID[r] = int32(len(count))
			count = append(count, 0)
			sum = append(sum, make([]float64, dim)...)
		}
		c := rootID[r]
		labels[i] = c
		count[c]++
		for a := 0; a < dim; a++ {
			sum[int(c)*dim+a] += float64(modes[i*dim+a])
		}
	}
	return labels, count, sum
}

// orderClusters is MergeModes' last phase: clusters renumbered by size
// (largest first, ties keep their order), centres the mean of their
// members.
func orderClusters(labels []int32, count []int, sum []float64, dim int) ([]int32, []float32, []int) {
	order := bySize(count)
	newID := make([]int32, len(count))
	centers := make([]float32, len(count)*dim)
	sizes := make([]int, len(count))
	for nid, old := range order {
		newID[old] = int32(nid)
		sizes[nid] = count[old]
		for a := 0; a < dim; a++ {
			centers[nid*dim+a] = float32(sum[old*dim+a] / float64(count[old]))
		}
	}
	for i := range labels {
		labels[i] = newID[labels[i]]
	}
	return labels, centers, sizes
}

// bySize returns the cluster indices ordered by count, largest first (a
// stable sort: ties keep index order).
func bySize(count []int) []int {
	order := make([]int, len(count))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return count[order[x]] > count[order[y]] })
	return order
}
