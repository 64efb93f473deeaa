package cluster

import (
	"github.com/lungctl/lungctl/internal/cluster/cells"
	"github.com/lungctl/lungctl/internal/par"
)

// boxTable maps uint64 keys (reuse boxes, bins, mode hashes) to int32 ids:
// 64 shards, each an open-addressing table with linear probing over a
// power-of-two number of slots (home slot from the key's Fibonacci hash),
// kept at most half full. The shard is chosen by the top bits of the hash,
// or, for reuse-box keys (newReuseTable), by a hash of the coarse spatial
// block (32 boxes a side) the box lies in, so that searches that run in
// spatial order work on a few cache-sized shards. Lookups may run
// concurrently while no insert runs; publish fills different shards in
// parallel, each in the order given, so the result is that of inserting in
// order.
type boxTable struct {
	shards [boxShards]boxShard
	sdim   int     // spatial axes in the key (0: shard by hash)
	sshift [3]uint // bit offset of each spatial axis in the key
	smask  uint64  // mask of one axis
}

const (
	boxShardBits = 6
	boxShards    = 1 << boxShardBits
	// boxCoarse is log2 of the side, in reuse boxes, of the spatial blocks
	// that share a shard.
	boxCoarse = 5
)

type boxShard struct {
	slots []boxSlot
	lg    uint // log2(len(slots))
	n     int  // occupied slots
}

type boxSlot struct {
	key uint64
	id  int32 // id + 1; 0 marks an empty slot
}

// boxKV is one key and id to insert.
type boxKV struct {
	key uint64
	id  int32
}

// newBoxTable returns an empty table, sharded by hash, with room for about
// hint keys.
func newBoxTable(hint int) *boxTable {
	t := &boxTable{}
	for i := range t.shards {
		t.shards[i].alloc(2 * hint / boxShards)
	}
	return t
}

// newReuseTable returns an empty table for the keys of q, sharded by
// coarse spatial block, with room for about hint keys.
func newReuseTable(hint int, q *cells.Quant) *boxTable {
	t := newBoxTable(hint)
	t.sdim = min(q.Dim, 3)
	for a := 0; a < t.sdim; a++ {
		t.sshift[a] = uint(q.Dim-1-a) * q.Bits
	}
	t.smask = uint64(1)<<q.Bits - 1
	return t
}

// alloc replaces the slots by at least size (≥ 64, a power of two) empty ones.
func (s *boxShard) alloc(size int) {
	lg := uint(6)
	for 1<<lg < size {
		lg++
	}
	s.slots = make([]boxSlot, 1<<lg)
	s.lg = lg
}

func boxHash(k uint64) uint64 { return k * 0x9e3779b97f4a7c15 }

// shardIdx returns the shard index of key k with hash h = boxHash(k).
func (t *boxTable) shardIdx(k, h uint64) int {
	if t.sdim == 0 {
		return int(h >> (64 - boxShardBits))
	}
	var v uint64
	for a := 0; a < t.sdim; a++ {
		v = (v + (k>>t.sshift[a]&t.smask)>>boxCoarse) * 0x9e3779b97f4a7c15
	}
	return int(v >> (64 - boxShardBits))
}

// shardOf returns the shard of key k with hash h = boxHash(k).
func (t *boxTable) shardOf(k, h uint64) *boxShard { return &t.shards[t.shardIdx(k, h)] }

// home returns the first slot of the hash h in shard s (hash bits below
// the top boxShardBits, independent of a hash-chosen shard).
func (s *boxShard) home(h uint64) int { return int((h << boxShardBits) >> (64 - s.lg)) }

// get returns the id stored for key k.
func (t *boxTable) get(k uint64) (int32, bool) {
	h := boxHash(k)
	s := t.shardOf(k, h)
	mask := len(s.slots) - 1
	for i := s.home(h); ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.id == 0 {
			return 0, false
		}
		if sl.key == k {
			return sl.id - 1, true
		}
	}
}

// getOrPutH returns the id stored for key k (hash h = boxHash(k)) and
// true, or stores id for k and returns id and false.
func (t *boxTable) getOrPutH(k, h uint64, id int32) (int32, bool) {
	s := t.shardOf(k, h)
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := len(s.slots) - 1
	for i := s.home(h); ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.id == 0 {
			sl.key, sl.id = k, id+1
			s.n++
			return id, false
		}
		if sl.key == k {
			return sl.id - 1, true
		}
	}
}

// touch reads the home slots of the keys ks (hashes hs), so that their
// cache misses overlap before a batch of lookups; it returns the
// (meaningless) sum of the values read (not inlined, so that the reads
// stay).
//
//go:noinline
func (t *boxTable) touch(ks, hs []uint64) (sum int32) {
	for j, h := range hs {
		s := t.shardOf(ks[j], h)
		sum += s.slots[s.home(h)].id
	}
	return sum
}

// publish stores the pairs of kv (keys not yet present keep the id of
// their first pair), on the workers of the budget (par): the pairs are
// grouped by shard (a stable counting sort into scratch, which it returns
// for reuse) and each worker fills whole shards, in kv order.
func (t *boxTable) publish(kv []boxKV, scratch []boxKV) []boxKV {
	var off [boxShards + 1]int
	sh := make([]uint8, len(kv))
	for i, p := range kv {
		c := uint8(t.shardIdx(p.key, boxHash(p.key)))
		sh[i] = c
		off[c+1]++
	}
	for c := 0; c < boxShards; c++ {
		off[c+1] += off[c]
	}
	if cap(scratch) < len(kv) {
		scratch = make([]boxKV, len(kv)+len(kv)/2)
	}
	scratch = scratch[:len(kv)]
	pos := off
	for i, p := range kv {
		scratch[pos[sh[i]]] = p
		pos[sh[i]]++
	}
	fill := func(c int) {
		s := &t.shards[c]
		for _, p := range scratch[off[c]:off[c+1]] {
			s.putIfAbsent(p.key, boxHash(p.key), p.id)
		}
	}
	if len(kv) < 4096 {
		for c := 0; c < boxShards; c++ {
			fill(c)
		}
		return scratch
	}
	par.For(boxShards, func(_, c int) { fill(c) })
	return scratch
}

// putIfAbsent stores id for key k (hash h) unless k is already present,
// doubling the shard when it would become more than half full.
func (s *boxShard) putIfAbsent(k, h uint64, id int32) {
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	if s.insert(k, h, id+1) {
		s.n++
	}
}

// grow doubles the shard's slots.
func (s *boxShard) grow() {
	old := s.slots
	s.alloc(2 * len(old))
	for _, sl := range old {
		if sl.id != 0 {
			s.insert(sl.key, boxHash(sl.key), sl.id)
		}
	}
}

// insert puts (k, v) (v = id + 1) in the probe sequence of hash h unless k
// is there; it reports whether it added a slot.
func (s *boxShard) insert(k, h uint64, v int32) bool {
	mask := len(s.slots) - 1
	for i := s.home(h); ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.id == 0 {
			sl.key, sl.id = k, v
			return true
		}
		if sl.key == k {
			return false
		}
	}
}

// shiftReuse is Grid's path-assisted mode search (Carreira-Perpiñán's
// acceleration of Gaussian mean shift): every position a search visits is
// remembered, in a hash of boxes of side opt.Reuse bandwidths (qt), together
// with the mode that search finally reached; a later search stops as soon
// as its position falls in a remembered box and takes that box's mode.
// Searches run in rounds (cells.Rounds, in the fixed pseudo-random order
// cells.SeedOrder, so that the first rounds spread paths over the whole
// data; rounds double in size); within a round the hash is read-only and
// the workers share it (they run the round's searches sorted by the grid
// cell of their seed, for cache locality; the order inside a round does
// not affect the result), and between rounds the round's paths are added as
// if in seed order (boxTable publish, all workers), so the result does not
// depend on the number of workers. It returns the largest number of steps
// any search took.
func (g *gridIndex) shiftReuse(modes []float32, opt Options, qt cells.Quant) int {
	dim := g.dim
	m := len(modes) / dim
	tol2 := opt.Tol * opt.Tol
	order := cells.SeedOrder(m)
	visited := newReuseTable(2*m, &qt) // ~2–4 remembered boxes per search
	var modePos []float32
	found := make([]int32, 0, m)
	type span struct{ w, b, e int32 }
	spans := make([]span, 0, m)
	var pend []boxKV // the keys and mode ids a round publishes
	var scratch []boxKV
	workers := par.Limit()
	arenas := make([][]uint64, workers)
	maxIter := make([]int, workers)
	// Within a round the hash is read-only, so the searches may run in any
	// order without changing the result: they run sorted by the grid cell
	// of their seed (a counting sort), so that consecutive searches read the
	// same cell rows from cache.
	cellCount := make([]int32, len(g.start))
	seedCell := make([]int32, 0, m)
	proc := make([]int32, 0, m)
	for _, rr := range cells.Rounds(m) {
		round := order[rr[0]:rr[1]]
		found = found[:len(round)]
		spans = spans[:len(round)]
		seedCell = seedCell[:len(round)]
		proc = proc[:len(round)]
		clear(cellCount)
		for r, q := range round {
			c := g.cellID(modes[q*dim : (q+1)*dim])
			seedCell[r] = c
			cellCount[c+1]++
		}
		for c := 1; c < len(cellCount); c++ {
			cellCount[c] += cellCount[c-1]
		}
		for r, c := range seedCell {
			proc[cellCount[c]] = int32(r)
			cellCount[c]++
		}
		for w := range arenas {
			arenas[w] = arenas[w][:0]
		}
		const chunk = 64
		par.For((len(round)+chunk-1)/chunk, func(w, c int) {
			num := make([]float64, dim)
			y := make([]float32, dim)
			arena := arenas[w]
			for _, r := range proc[c*chunk : min((c+1)*chunk, len(round))] {
				q := round[r]
				copy(y, modes[q*dim:(q+1)*dim])
				st := len(arena)
				id := int32(-1)
				it := 0
				done := false
				for {
					k := qt.Key(y)
					if v, ok := visited.get(k); ok {
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
				maxIter[w] = max(maxIter[w], it)
			}
			arenas[w] = arena
		})
		// Publish the round's paths, in seed order (the table's shards are
		// filled in parallel, each in that order).
		total := 0
		for _, sp := range spans {
			total += int(sp.e - sp.b)
		}
		if cap(pend) < total {
			pend = make([]boxKV, 0, total+total/2)
		}
		pend = pend[:0]
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
				pend = append(pend, boxKV{k, id})
			}
		}
		scratch = visited.publish(pend, scratch)
	}
	return slicesMax(maxIter)
}
