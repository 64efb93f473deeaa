package cluster

// Climbing phase of FlatMeanShift: the mode searches.

import (
	"math"

	"github.com/lungctl/lungctl/internal/par"
)

// flatClimbAll is the climbing phase: it moves every seed (S×dim, in
// place) to its final mean on the workers of the budget (par; seeds in
// chunks of 32, one flatClimber with its private path cache per worker)
// and returns each seed's intensity (0: dropped) and the most steps any
// seed completed. Every seed writes only its own slots and the path
// sharing is exact, so the outcome does not depend on the worker count.
func flatClimbAll(ix *flatIndex, seeds []float64, maxIter int) ([]int32, int) {
	dim := ix.dim
	ns := len(seeds) / dim
	counts := make([]int32, ns)
	iters := make([]int32, ns)
	const chunk = 32
	nchunk := (ns + chunk - 1) / chunk
	workers := max(1, min(par.Limit(), nchunk))
	climbers := make([]*flatClimber, par.Limit())
	par.For(nchunk, func(w, c int) {
		cl := climbers[w]
		if cl == nil {
			cl = &flatClimber{ix: ix, cache: newFlatPathCache(dim, 8*ns/workers), seeds: seeds, counts: counts, maxIter: maxIter,
				sum: make([]float64, dim), old: make([]float64, dim)}
			climbers[w] = cl
		}
		for s := c * chunk; s < min((c+1)*chunk, ns); s++ {
			iters[s] = cl.climb(s)
		}
	})
	most := 0
	for _, it := range iters {
		most = max(most, int(it))
	}
	return counts, most
}

// flatClimber runs the mode searches of one worker.
type flatClimber struct {
	ix      *flatIndex
	cache   *flatPathCache
	seeds   []float64 // S×dim: start positions, overwritten with final means
	counts  []int32   // S: intensity of each seed's mode (0: dropped)
	maxIter int
	sum     []float64 // dim scratch
	old     []float64 // dim scratch
	path    []float64 // query positions of the current seed, dim each
	done    []int32   // completed iterations at each path position
}

// climb runs scikit-learn's _mean_shift_single_seed for seed s: it moves
// seeds[s] to the final mean, sets counts[s] to the number of points within
// the bandwidth of the last query position (0: dropped) and returns the
// completed iterations.
//
// Path sharing: the rest of a search depends only on the current query
// position (and on the iteration cap), so when a search reaches, bit for
// bit, a position that an earlier search of this worker queried and that
// search ended by converging (or by an empty window), it takes that
// search's outcome and its number of remaining steps instead of repeating
// them, as long as the cap would not have cut them short. This is exact:
// results do not depend on which seeds a worker saw before.
func (c *flatClimber) climb(s int) int32 {
	ix, dim := c.ix, c.ix.dim
	m := c.seeds[s*dim : (s+1)*dim]
	thresh := 1e-3 * ix.r
	completed := 0
	c.path, c.done = c.path[:0], c.done[:0]
	capped := false
	for {
		if src, rem, ok := c.cache.lookup(m); ok && completed+int(rem) <= c.maxIter {
			copy(m, c.seeds[int(src)*dim:int(src+1)*dim])
			c.counts[s] = c.counts[src]
			completed += int(rem)
			break
		}
		c.path = append(c.path, m...)
		c.done = append(c.done, int32(completed))
		cnt := ix.within(m, c.sum)
		if cnt == 0 {
			c.counts[s] = 0
			break
		}
		copy(c.old, m)
		var d2 float64
		for a := range m {
			m[a] = c.sum[a] / float64(cnt)
			d := m[a] - c.old[a]
			d2 += d * d
		}
		if math.Sqrt(d2) < thresh {
			c.counts[s] = int32(cnt)
			break
		}
		if completed == c.maxIter {
			c.counts[s] = int32(cnt)
			capped = true
			break
		}
		completed++
	}
	if !capped {
		for i, d := range c.done {
			c.cache.insert(c.path[i*dim:(i+1)*dim], int32(s), int32(completed)-d)
		}
	}
	return int32(completed)
}

// flatPathCache maps query positions (exact float64 values) to the seed whose
// search queried them and the steps that search still completed from there.
// It is a direct-mapped table (a newer entry replaces an older one in its
// slot), private to one worker so that it needs no locks.
type flatPathCache struct {
	dim  int
	mask uint64
	slot []flatPathSlot
	pos  []float64 // slot positions, dim each (read only when the key matches)
}

type flatPathSlot struct {
	key       uint64 // hash of the position, never 0; 0 = empty
	seed, rem int32
}

// newFlatPathCache returns a table of the power of two ≥ entries slots
// (between 2¹⁰ and 2¹⁷).
func newFlatPathCache(dim, entries int) *flatPathCache {
	n := 1 << 10
	for n < entries && n < 1<<17 {
		n <<= 1
	}
	return &flatPathCache{dim: dim, mask: uint64(n - 1), slot: make([]flatPathSlot, n), pos: make([]float64, n*dim)}
}

// flatHashPos mixes the bits of a position (+0 and −0 hash alike); never 0.
func flatHashPos(p []float64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range p {
		h ^= math.Float64bits(v + 0)
		h *= 0xff51afd7ed558ccd
		h ^= h >> 29
	}
	return h | 1
}

func (c *flatPathCache) lookup(p []float64) (seed, rem int32, ok bool) {
	h := flatHashPos(p)
	i := h & c.mask
	sl := c.slot[i]
	if sl.key != h {
		return 0, 0, false
	}
	q := c.pos[int(i)*c.dim : int(i+1)*c.dim]
	for a, v := range p {
		if q[a] != v {
			return 0, 0, false
		}
	}
	return sl.seed, sl.rem, true
}

func (c *flatPathCache) insert(p []float64, seed, rem int32) {
	h := flatHashPos(p)
	i := h & c.mask
	c.slot[i] = flatPathSlot{key: h, seed: seed, rem: rem}
	copy(c.pos[int(i)*c.dim:int(i+1)*c.dim], p)
}
