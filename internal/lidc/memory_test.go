package lidc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/volume"
)

// rowBucketInside is insidePoly as it was: every edge's crossing appended
// to each row it spans, then each row sorted.
func rowBucketInside(dst []uint8, w, h, ox, oy int, c []Point) {
	n := len(c)
	if n < 3 {
		return
	}
	rows := make([][]float64, h)
	for e := 0; e < n; e++ {
		p, q := c[e], c[(e+1)%n]
		if p.Y == q.Y {
			continue
		}
		for y := max(min(p.Y, q.Y), oy); y < max(p.Y, q.Y) && y < oy+h; y++ {
			rows[y-oy] = append(rows[y-oy], float64(p.X)+float64(y-p.Y)*float64(q.X-p.X)/float64(q.Y-p.Y))
		}
	}
	for r, xs := range rows {
		sort.Float64s(xs)
		for m := 0; m+1 < len(xs); m += 2 {
			for x := max(ceilInt(xs[m]), ox); x <= min(ceilInt(xs[m+1])-1, ox+w-1); x++ {
				dst[r*w+x-ox] = 1
			}
		}
	}
}

// TestInsidePolyMatchesRowBuckets: the scanline fill sets the same pixels
// as filling row buckets, for random (often self-crossing) polygons, boxes
// that cut them and degenerate ones.
func TestInsidePolyMatchesRowBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 500; trial++ {
		c := make([]Point, rng.IntN(12))
		for i := range c {
			c[i] = Point{rng.IntN(30), rng.IntN(30)}
		}
		ox, oy, w, h := rng.IntN(10), rng.IntN(10), 1+rng.IntN(30), 1+rng.IntN(30)
		got, want := make([]uint8, w*h), make([]uint8, w*h)
		insidePoly(got, w, h, ox, oy, c)
		rowBucketInside(want, w, h, ox, oy, c)
		if !slices.Equal(got, want) {
			t.Fatalf("polygon %v in %d×%d at (%d, %d): fills differ", c, w, h, ox, oy)
		}
	}
}

// TestInsidePolyMemory: a zigzag outline whose 4,096 edges each cross all
// 512 rows is filled with memory for its edges only; bucketing each
// crossing took 4,096 × 511 × 8 bytes (16 MiB and more).
func TestInsidePolyMemory(t *testing.T) {
	c := make([]Point, 4096)
	for i := range c {
		c[i] = Point{(i * 7) % 512, 511 * (i % 2)}
	}
	dst := make([]uint8, 512*512)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	insidePoly(dst, 512, 512, 0, 0, c)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("filling a 4,096-point zigzag allocated %d bytes, want under 1 MiB", got)
	}
}

// withBudget runs f under a memory budget of limit bytes.
func withBudget(t *testing.T, limit uint64, f func()) {
	t.Helper()
	old := membudget.Limit()
	membudget.Set(limit)
	defer membudget.Set(old)
	f()
}

// TestAnalyzeMemoryBudget: the readers' masks, and a consensus box larger
// than its readers' masks together, are refused under a budget too small
// for them, before they are allocated, with an error naming the XML; the
// budget's reservations end with Analyze.
func TestAnalyzeMemoryBudget(t *testing.T) {
	full := Ratings{3, 1, 6, 3, 3, 3, 3, 5, 3}
	inUse := membudget.InUse()
	// One nodule spanning a 512×512×133 series: 35 M voxels of mask.
	g := Geometry{Grid: volume.Grid{Dims: [3]int{512, 512, 133}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Direction: volume.Identity}}
	big := &Message{File: "big.xml", Sessions: []Session{{Nodules: []ReaderNodule{
		nodule("b", full, roiAt(0, []Point{{0, 0}, {511, 0}, {0, 511}}), roiAt(330, []Point{{511, 511}, {510, 511}})),
	}}}}
	withBudget(t, 16<<20, func() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Analyze(big, g, Options{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, membudget.ErrTooBig) || !strings.Contains(err.Error(), "big.xml") {
			t.Errorf("a 35 M-voxel mask under a 16 MiB budget: %v, want ErrTooBig naming big.xml", err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("refusing it allocated %d bytes", got)
		}
	})
	// Twenty readers' 3×3-pixel nodules in a diagonal chain, each within
	// 2.5 mm of the next: one physical nodule whose box (62×62 pixels, 3
	// bytes a voxel while counted) outweighs the readers' 180 voxels.
	chain := &Message{File: "chain.xml"}
	for s := 0; s < 20; s++ {
		chain.Sessions = append(chain.Sessions, Session{ReaderID: fmt.Sprint(s), Nodules: []ReaderNodule{
			nodule("c", full, roiAt(-130, square(3*s, 3*s, 3*s+2, 3*s+2))),
		}})
	}
	withBudget(t, 4096, func() {
		_, err := Analyze(chain, axialGeom(), Options{})
		if !errors.Is(err, membudget.ErrTooBig) || !strings.Contains(err.Error(), "chain.xml") || !strings.Contains(err.Error(), "consensus") {
			t.Errorf("a 62×62 consensus box under a 4 KiB budget: %v, want ErrTooBig naming chain.xml and the consensus", err)
		}
	})
	withBudget(t, 64<<10, func() {
		res, err := Analyze(chain, axialGeom(), Options{})
		if err != nil || len(res.Nodules) != 1 || res.Nodules[0].NumReaders != 20 {
			t.Errorf("the chain under a 64 KiB budget: %v", err)
		}
	})
	if got := membudget.InUse(); got != inUse {
		t.Errorf("%d bytes still reserved after Analyze, want %d", got, inUse)
	}
}
