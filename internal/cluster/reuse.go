package cluster

import (
	"math"
	"math/rand"
	"sync"
	"sync/atomic"
)

// maxReuseDim is the largest dimension the path-assisted search supports.
const maxReuseDim = 8

// reuseIndex quantises scaled positions into boxes of side Options.Reuse
// bandwidths on every axis, packed into one uint64 (64/dim bits per axis).
type reuseIndex struct {
	dim  int
	bits uint
	inv  float64
	lo   [maxReuseDim]float64
}

// newReuseIndex returns the quantiser for points (scaled, N×dim), or false
// when some axis spans more boxes than its share of the 64 bits can count
// (the caller then searches without path reuse).
func newReuseIndex(points []float32, dim int, side float64) (reuseIndex, bool) {
	r := reuseIndex{dim: dim, bits: uint(64 / dim), inv: 1 / side}
	n := len(points) / dim
	for a := 0; a < dim; a++ {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			x := float64(points[i*dim+a])
			lo = math.Min(lo, x)
			hi = math.Max(hi, x)
		}
		// Modes stay in the convex hull of the points; one box of margin.
		r.lo[a] = lo - side
		if (hi-r.lo[a])*r.inv+2 >= float64(uint64(1)<<r.bits) {
			return r, false
		}
	}
	return r, true
}

func (r *reuseIndex) key(y []float32) uint64 {
	var k uint64
	for a := 0; a < r.dim; a++ {
		c := int64(math.Floor((float64(y[a]) - r.lo[a]) * r.inv))
		c = max(0, min(c, int64(1)<<r.bits-1))
		k = k<<r.bits | uint64(c)
	}
	return k
}

// shiftReuse is Grid's path-assisted mode search (Carreira-Perpiñán's
// acceleration of Gaussian mean shift): every position a search visits is
// remembered, in a hash of boxes of side opt.Reuse bandwidths, together with
// the mode that search finally reached; a later search stops as soon as its
// position falls in a remembered box and takes that box's mode. Searches run
// in rounds (in a fixed pseudo-random order of the seeds, so that the first
// rounds spread paths over the whole data; rounds double in size); within a
// round the hash is read-only and the workers share it, and between rounds
// the round's paths are added in seed order, so the result does not depend
// on the number of workers. It returns the largest number of steps any
// search took.
func (g *gridIndex) shiftReuse(modes []float32, opt Options, workers int, ri reuseIndex) int {
	dim := g.dim
	m := len(modes) / dim
	tol2 := opt.Tol * opt.Tol
	order := rand.New(rand.NewSource(1)).Perm(m)
	visited := make(map[uint64]int32, 4*m) // ~3–4 remembered boxes per search
	var modePos []float32
	found := make([]int32, 0, m)
	type span struct{ w, b, e int32 }
	spans := make([]span, 0, m)
	arenas := make([][]uint64, workers)
	var maxIter int64
	for s, size := 0, 64; s < m; s, size = s+size, max(64, s+size) {
		round := order[s:min(s+size, m)]
		found = found[:len(round)]
		spans = spans[:len(round)]
		var next int64
		const chunk = 64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				num := make([]float64, dim)
				y := make([]float32, dim)
				arena := arenas[w][:0]
				localMax := 0
				for {
					cs := int(atomic.AddInt64(&next, chunk)) - chunk
					if cs >= len(round) {
						break
					}
					for r := cs; r < min(cs+chunk, len(round)); r++ {
						q := round[r]
						copy(y, modes[q*dim:(q+1)*dim])
						st := len(arena)
						id := int32(-1)
						it := 0
						done := false
						for {
							k := ri.key(y)
							if v, ok := visited[k]; ok {
								id = v
								break
							}
							if len(arena) == st || arena[len(arena)-1] != k {
								arena = append(arena, k)
							}
							if done || it >= opt.MaxIter {
								break
							}
							it++
							step2, ok := g.step(y, num)
							done = !ok || step2 < tol2
						}
						if id < 0 {
							copy(modes[q*dim:(q+1)*dim], y)
						}
						found[r] = id
						spans[r] = span{int32(w), int32(st), int32(len(arena))}
						localMax = max(localMax, it)
					}
				}
				arenas[w] = arena
				atomicMax(&maxIter, localMax)
			}(w)
		}
		wg.Wait()
		// Publish the round's paths, in seed order.
		for r, q := range round {
			id := found[r]
			if id < 0 {
				id = int32(len(modePos) / dim)
				modePos = append(modePos, modes[q*dim:(q+1)*dim]...)
			} else {
				copy(modes[q*dim:(q+1)*dim], modePos[int(id)*dim:int(id+1)*dim])
			}
			sp := spans[r]
			for _, k := range arenas[sp.w][sp.b:sp.e] {
				if _, ok := visited[k]; !ok {
					visited[k] = id
				}
			}
		}
	}
	return int(maxIter)
}
