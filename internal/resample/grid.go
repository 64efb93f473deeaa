package resample

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
)

// plan holds the precomputed geometry of one resampling.
type plan struct {
	out volume.Grid

	nx, ny, nz int       // source dims
	srcIdx     []int     // source slice index of the t-th slice in ascending n·P order
	sk         []float64 // n·P for the t-th slice, ascending (mm)
	lo, hi     float64   // n·q range covered by the stack (half a step beyond the end slices), mm
	n          volume.Vec3
	ud, vd     volume.Vec3 // in-plane dual basis over spacing: i = (q−P)·ud, j = (q−P)·vd
	pu, pv     []float64   // P_t·ud, P_t·vd of the t-th slice
	axial      bool        // |n·z| ≈ 1: the fast path

	// Fast path: in-plane index of output voxel (a, b) on slice t is
	// ci[t] + a·dia + b·dib (likewise j); slice coordinate of output slice
	// c is s0 + c·ds.
	ci, cj    []float64
	dia, dib  float64
	dja, djb  float64
	s0, ds    float64
	separable bool // dib == 0 && dja == 0: per-axis lookup tables
}

func dot(a, b volume.Vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func cross(a, b volume.Vec3) volume.Vec3 {
	return volume.Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func scale(a volume.Vec3, s float64) volume.Vec3 { return volume.Vec3{a[0] * s, a[1] * s, a[2] * s} }

func sub(a, b volume.Vec3) volume.Vec3 { return volume.Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func add(a, b volume.Vec3) volume.Vec3 { return volume.Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

func unit(a volume.Vec3) (volume.Vec3, bool) {
	l := math.Sqrt(dot(a, a))
	if !(l > 1e-9) || math.IsInf(l, 0) {
		return a, false
	}
	return scale(a, 1/l), true
}

func finite(a volume.Vec3) bool {
	for _, x := range a {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// OutputGrid returns the grid Stack, StackFloat32 and Mask write for a source
// grid src with slice positions (nil = regular, from src) and output spacing
// (mm along LPS x, y, z): the world-aligned grid of the package comment.
func OutputGrid(src volume.Grid, positions []volume.Vec3, spacing volume.Vec3) (volume.Grid, error) {
	p, err := newPlan(src, positions, spacing)
	if err != nil {
		return volume.Grid{}, err
	}
	return p.out, nil
}

// worldGrid applies the grid rule to the bounding box [lo, hi] (LPS mm) of
// the source voxel centres.
func worldGrid(lo, hi [3]float64, spacing volume.Vec3) (volume.Grid, error) {
	g := volume.Grid{Spacing: spacing, Direction: volume.Identity}
	total := 1.0
	for a := 0; a < 3; a++ {
		f := math.Floor(lo[a]/spacing[a] + snapTol)
		l := math.Ceil(hi[a]/spacing[a] - snapTol)
		n := math.Max(l-f+1, 1)
		total *= n
		if !(total <= MaxVoxels) {
			return g, fmt.Errorf("resample: %w: output grid at %v mm spacing exceeds %d voxels (source extent %.1f…%.1f mm along axis %d)",
				volume.ErrGeometry, spacing, MaxVoxels, lo[a], hi[a], a)
		}
		g.Dims[a] = int(n)
		g.Origin[a] = f * spacing[a]
	}
	return g, nil
}

// planInput checks newPlan's arguments and returns the slice positions,
// the regular ones of src when positions is nil.
func planInput(src volume.Grid, positions []volume.Vec3, spacing volume.Vec3) ([]volume.Vec3, error) {
	if err := src.Validate(); err != nil {
		return nil, fmt.Errorf("resample: source: %w", err)
	}
	for a := 0; a < 3; a++ {
		if !(spacing[a] > 0) || math.IsInf(spacing[a], 0) {
			return nil, fmt.Errorf("resample: %w: output spacing %v mm", volume.ErrGeometry, spacing)
		}
	}
	nz := src.Dims[2]
	if positions == nil {
		positions = make([]volume.Vec3, nz)
		for k := range positions {
			positions[k] = src.IndexToWorld(volume.Vec3{0, 0, float64(k)})
		}
	}
	if len(positions) != nz {
		return nil, fmt.Errorf("%w: %d positions for %d slices", ErrPositions, len(positions), nz)
	}
	for k, q := range positions {
		if !finite(q) {
			return nil, fmt.Errorf("%w: slice %d position %v", ErrPositions, k, q)
		}
	}
	return positions, nil
}

// cornerBounds is the LPS bounding box of the slices' corner voxel centres
// (slice origin q, q+wi, q+wj, q+wi+wj).
func cornerBounds(positions []volume.Vec3, wi, wj volume.Vec3) (lo, hi [3]float64) {
	for a := 0; a < 3; a++ {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for _, q := range positions {
		for _, corner := range [4]volume.Vec3{q, add(q, wi), add(q, wj), add(add(q, wi), wj)} {
			for a := 0; a < 3; a++ {
				lo[a] = math.Min(lo[a], corner[a])
				hi[a] = math.Max(hi[a], corner[a])
			}
		}
	}
	return lo, hi
}

func newPlan(src volume.Grid, positions []volume.Vec3, spacing volume.Vec3) (*plan, error) {
	positions, err := planInput(src, positions, spacing)
	if err != nil {
		return nil, err
	}
	nz := src.Dims[2]
	u := volume.Vec3{src.Direction[0][0], src.Direction[1][0], src.Direction[2][0]}
	v := volume.Vec3{src.Direction[0][1], src.Direction[1][1], src.Direction[2][1]}
	u, ok1 := unit(u)
	v, ok2 := unit(v)
	c := dot(u, v)
	e1, ok3 := unit(sub(v, scale(u, c)))
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("resample: %w: in-plane directions are parallel or zero", volume.ErrGeometry)
	}
	n, _ := unit(cross(u, e1))
	s0, s1 := src.Spacing[0], src.Spacing[1]
	// Dual basis of (u, v) inside the slice plane: (q−P)·ud = i for
	// q−P = i·s0·u + j·s1·v (+ any multiple of n).
	det := 1 - c*c
	ud := scale(sub(u, scale(v, c)), 1/(det*s0))
	vd := scale(sub(v, scale(u, c)), 1/(det*s1))

	p := &plan{nx: src.Dims[0], ny: src.Dims[1], nz: nz, n: n, ud: ud, vd: vd}
	// Sort slices by n·P.
	p.srcIdx = make([]int, nz)
	for k := range p.srcIdx {
		p.srcIdx[k] = k
	}
	sk := make([]float64, nz)
	for k := range sk {
		sk[k] = dot(n, positions[k])
	}
	sort.SliceStable(p.srcIdx, func(a, b int) bool { return sk[p.srcIdx[a]] < sk[p.srcIdx[b]] })
	p.sk = make([]float64, nz)
	p.pu, p.pv = make([]float64, nz), make([]float64, nz)
	for t, k := range p.srcIdx {
		p.sk[t] = sk[k]
		p.pu[t], p.pv[t] = dot(positions[k], ud), dot(positions[k], vd)
		if t > 0 && p.sk[t]-p.sk[t-1] < 1e-4 {
			return nil, fmt.Errorf("%w: slices %d and %d are both at %.4f mm along the normal", ErrPositions, p.srcIdx[t-1], k, p.sk[t])
		}
	}
	// The stack covers half a step beyond its end slices (half the source's
	// slice spacing for a single slice).
	h0, h1 := src.Spacing[2]/2, src.Spacing[2]/2
	if nz > 1 {
		h0, h1 = (p.sk[1]-p.sk[0])/2, (p.sk[nz-1]-p.sk[nz-2])/2
	}
	p.lo, p.hi = p.sk[0]-h0, p.sk[nz-1]+h1
	// Bounding box of all source voxel centres in LPS.
	wi := scale(u, float64(p.nx-1)*s0)
	wj := scale(v, float64(p.ny-1)*s1)
	lo, hi := cornerBounds(positions, wi, wj)
	g, err := worldGrid(lo, hi, spacing)
	if err != nil {
		return nil, err
	}
	p.out = g
	p.axial = 1-math.Abs(n[2]) < axialTol
	if p.axial {
		// Output slice c lies at n·q = n_z·(O_z + c·σ2) (n_x, n_y ≈ 0).
		p.s0 = n[2] * g.Origin[2]
		p.ds = n[2] * spacing[2]
		p.dia, p.dib = spacing[0]*ud[0], spacing[1]*ud[1]
		p.dja, p.djb = spacing[0]*vd[0], spacing[1]*vd[1]
		if math.Abs(p.dib) < 1e-12 {
			p.dib = 0
		}
		if math.Abs(p.dja) < 1e-12 {
			p.dja = 0
		}
		p.separable = p.dib == 0 && p.dja == 0
		oz := volume.Vec3{g.Origin[0], g.Origin[1], 0}
		ou, ov := dot(oz, ud), dot(oz, vd)
		p.ci, p.cj = make([]float64, nz), make([]float64, nz)
		for t := range p.ci {
			// ud_z, vd_z ≈ 0 on this path, so z does not enter.
			p.ci[t] = ou - (p.pu[t] - positions[p.srcIdx[t]][2]*ud[2])
			p.cj[t] = ov - (p.pv[t] - positions[p.srcIdx[t]][2]*vd[2])
		}
	}
	return p, nil
}

// bracketAt returns the sorted slice indices t0 ≤ t1 around slice
// coordinate s (mm along n) and the blend weight w of t1, or ok=false when s
// lies outside the stack's extent. hint is a slice index to start from
// (the previous answer along a row), or −1 for a binary search.
func (p *plan) bracketAt(s float64, hint int) (t0, t1 int, w float64, ok bool) {
	n := len(p.sk)
	if !(s >= p.lo-eps*10 && s <= p.hi+eps*10) {
		return 0, 0, 0, false
	}
	if n == 1 || s <= p.sk[0] {
		return 0, 0, 0, true
	}
	if s >= p.sk[n-1] {
		return n - 1, n - 1, 0, true
	}
	// t with sk[t] <= s < sk[t+1].
	if hint < 0 {
		hint = sort.SearchFloat64s(p.sk, s) - 1
	}
	t := min(max(hint, 0), n-2)
	for t > 0 && p.sk[t] > s {
		t--
	}
	for t < n-2 && p.sk[t+1] <= s {
		t++
	}
	w = (s - p.sk[t]) / (p.sk[t+1] - p.sk[t])
	return t, t + 1, math.Min(1, math.Max(0, w)), true
}

// axisTable fills the lookup for one in-plane axis: for output position a,
// lower source index i0 (−1 when outside), upper index i1 and fraction f.
// With nearest set, i0 is the nearest index and f is 0.
func axisTable(i0, i1 []int32, f []float32, start, step float64, n int, nearest bool) {
	for a := range i0 {
		x := start + float64(a)*step
		idx, idx1, fr := locate(x, n, nearest)
		i0[a], i1[a], f[a] = idx, idx1, fr
	}
}

// locate maps a continuous source index x on an axis of n samples to the
// interpolation stencil; idx is −1 when x is outside the samples' extent
// [−0.5, n−0.5] (each sample covers half a voxel around its centre; beyond
// the outermost centres the edge value holds).
func locate(x float64, n int, nearest bool) (idx, idx1 int32, fr float32) {
	if !(x >= -0.5-eps && x <= float64(n)-0.5+eps) {
		return -1, -1, 0
	}
	if nearest {
		k := int32(math.Floor(x + 0.5))
		k = min(max(k, 0), int32(n-1))
		return k, k, 0
	}
	x = math.Min(math.Max(x, 0), float64(n-1))
	k := int(x)
	if k >= n-1 {
		if n == 1 {
			return 0, 0, 0
		}
		k = n - 2
	}
	return int32(k), int32(k + 1), float32(x - float64(k))
}
