package cluster

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// TestMergeModesDuplicates checks that MergeModes, which gives bit-identical
// repeats of a mode the leader of their first copy, returns exactly what the
// plain leader-plus-union-find merge (mergeModesRef, the former code) does:
// on modes that are mostly exact copies of a few hundred positions (as the
// path-assisted search produces), with near-duplicates and chains mixed in.
func TestMergeModesDuplicates(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const dim = 5
	base := make([][dim]float32, 300)
	for i := range base {
		for a := range base[i] {
			base[i][a] = float32(rng.Float64() * 8)
		}
	}
	var modes []float32
	for i := 0; i < 20000; i++ {
		b := base[rng.Intn(len(base))]
		if rng.Intn(10) == 0 { // a near-copy, not bit-identical
			for a := range b {
				b[a] += float32(0.3 * rng.NormFloat64())
			}
		}
		modes = append(modes, b[:]...)
	}
	l1, c1, s1 := MergeModes(modes, dim, 0.5)
	l2, c2, s2 := mergeModesRef(modes, dim, 0.5)
	if len(s1) != len(s2) {
		t.Fatalf("%d clusters, reference %d", len(s1), len(s2))
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("mode %d: label %d, reference %d", i, l1[i], l2[i])
		}
	}
	for i := range c1 {
		if c1[i] != c2[i] {
			t.Fatalf("centre value %d: %g, reference %g", i, c1[i], c2[i])
		}
	}
	for i := range s1 {
		if s1[i] != s2[i] {
			t.Fatalf("size %d: %d, reference %d", i, s1[i], s2[i])
		}
	}
	t.Logf("%d modes → %d clusters", len(l1), len(s1))
}

// mergeModesRef is MergeModes without the repeat shortcut (the former
// implementation), kept as the reference of TestMergeModesDuplicates.
func mergeModesRef(modes []float32, dim int, radius float64) (labels []int32, centers []float32, sizes []int) {
	m := len(modes) / dim
	labels = make([]int32, m)
	if m == 0 {
		return labels, nil, nil
	}
	sd := dim
	if sd > 3 {
		sd = 3
	}
	r2 := radius * radius
	type key [3]int64
	cellOf := func(p []float32) key {
		var k key
		for a := 0; a < sd; a++ {
			k[a] = int64(math.Floor(float64(p[a]) / radius))
		}
		return k
	}
	cells := map[key][]int32{}
	var leaders []int32 // mode index of each leader
	dist2 := func(p, q []float32) float64 {
		var s float64
		for a := 0; a < dim; a++ {
			d := float64(p[a]) - float64(q[a])
			s += d * d
		}
		return s
	}
	// visit calls f for each leader in the 3^sd cells around p.
	visit := func(p []float32, f func(l int32) bool) {
		c := cellOf(p)
		var off [3]int64
		lo := [3]int64{}
		hi := [3]int64{}
		for a := 0; a < sd; a++ {
			lo[a], hi[a] = -1, 1
		}
		for off[2] = lo[2]; off[2] <= hi[2]; off[2]++ {
			for off[1] = lo[1]; off[1] <= hi[1]; off[1]++ {
				for off[0] = lo[0]; off[0] <= hi[0]; off[0]++ {
					k := key{c[0] + off[0], c[1] + off[1], c[2] + off[2]}
					for _, l := range cells[k] {
						if !f(l) {
							return
						}
					}
				}
			}
		}
	}
	for i := 0; i < m; i++ {
		p := modes[i*dim : (i+1)*dim]
		found := int32(-1)
		visit(p, func(l int32) bool {
			if dist2(p, modes[int(leaders[l])*dim:(int(leaders[l])+1)*dim]) < r2/4 {
				found = l
				return false
			}
			return true
		})
		if found < 0 {
			found = int32(len(leaders))
			leaders = append(leaders, int32(i))
			k := cellOf(p)
			cells[k] = append(cells[k], found)
		}
		labels[i] = found
	}
	// Union leaders within radius of each other.
	parent := make([]int32, len(leaders))
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for li, mi := range leaders {
		p := modes[int(mi)*dim : (int(mi)+1)*dim]
		visit(p, func(l int32) bool {
			if l != int32(li) && dist2(p, modes[int(leaders[l])*dim:(int(leaders[l])+1)*dim]) < r2 {
				a, b := find(int32(li)), find(l)
				if a != b {
					if a < b {
						parent[b] = a
					} else {
						parent[a] = b
					}
				}
			}
			return true
		})
	}
	// Root per leader → provisional cluster id (in order of first member).
	rootID := make([]int32, len(leaders))
	for i := range rootID {
		rootID[i] = -1
	}
	var count []int
	var sum []float64
	for i := 0; i < m; i++ {
		r := find(labels[i])
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
	k := len(count)
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return count[order[x]] > count[order[y]] })
	newID := make([]int32, k)
	centers = make([]float32, k*dim)
	sizes = make([]int, k)
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
