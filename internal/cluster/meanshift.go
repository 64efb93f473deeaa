// Package cluster implements Gaussian mean-shift clustering of D-dimensional
// float32 points (lungctl uses D = 5: x, y, z in LPS mm, HU, shape index).
//
// Model: every axis a has its own bandwidth h_a (in that axis's unit); the
// points are divided by their axis bandwidth and the kernel is
// exp(−|d|²/2) on the scaled difference d, truncated (weight 0) at
// |d| ≥ Options.Truncate (default 3, i.e. 3 bandwidths). Each point starts a
// mode search (standard, non-blurring mean shift: the data stay fixed) that
// stops when a step is shorter than Options.Tol bandwidths or after
// Options.MaxIter steps. Converged modes closer than Options.MergeFrac
// bandwidths (scaled Euclidean distance) are merged (leader grouping plus
// union-find, so chains merge); each point is labelled with its merged mode.
//
// Acceleration (Grid backend, on by default): path-assisted mean shift
// after Carreira-Perpiñán (2006). Every position a search visits is
// remembered in a hash of 5-D boxes of side Options.Reuse bandwidths
// (default 0.1) with the mode that search finally reached; a later search
// stops as soon as it enters a remembered box and takes that mode. Searches
// run in rounds of doubling size in a fixed pseudo-random seed order (the
// first rounds lay paths all over the data; within a round the hash is
// read-only and shared by all cores; paths are published between rounds in
// seed order, so results do not depend on the core count). Most searches
// then stop after about 3 steps instead of running ~25 to convergence. The
// error is confined to points whose path comes within a box of another
// basin's path (basin borders, flat vessel ridges): on lung-like test data
// the partition matches the exact search with adjusted Rand index ≥ 0.99
// (TestGridMatchesBruteForce); Reuse < 0 gives the exact search, which
// matches the BruteForce reference exactly. Options.Aggregate (weighted bin
// means as data) and Options.Weights (weighted mean shift) are also
// available; aggregation is off by default because 5-D lung points rarely
// share a bin.
//
// Scale-adaptive (variable-bandwidth) mean shift: Options.Scale gives
// every point i a scale s_i, and its bandwidth on the first m =
// Options.ScaledAxes axes (the spatial ones) is s_i·h_a. This is the
// sample-point estimator of Comaniciu, Ramesh & Meer (2001): with d_i² =
// Σ_{a<m} (y_a − x_ia)²/(s_i h_a)² + Σ_{a≥m} (y_a − x_ia)²/h_a² (cut at d_i ≥
// Truncate) the density is f(y) = Σ_i w_i s_i^−m exp(−d_i²/2), and one step
// is the EM update with q_i = w_i s_i^−m exp(−d_i²/2): y_a ← Σ q_i x_ia/s_i² ÷
// Σ q_i/s_i² on the scaled axes, y_a ← Σ q_i x_ia ÷ Σ q_i on the others,
// which increases f at every step (without the cut). With every s_i = 1 it
// is the fixed-bandwidth algorithm above, bit for bit (the same code runs).
// Tol, Reuse and MergeFrac stay in units of the base bandwidth h: the
// density and the update are one fixed field whatever the start, so a
// remembered path leads to the same mode as before.
//
// Backends do the mode search behind the Backend interface: Grid (default,
// AVX2/FMA assembly kernel sums for 5-D points when the CPU has them,
// cell list on the first three axes, all cores of the worker budget of
// package par; with Scale one cell list per scale level) and BruteForce
// (O(N²) reference with the same truncation). Further backends register
// with Register: the CUDA package (internal/cluster/cuda, build tag
// lungcuda: tiled brute force, and a cell grid that also runs the
// path-assisted search on the GPU) registers "cuda" and "cuda-brute", and
// SelectBackend ("auto", "cpu", "cuda", "cuda-brute") finds them. A backend
// that cannot honour an option (today none: the CUDA ones implement every
// option, per-point scales included) says so with an
// *UnsupportedError; Auto, what "auto" returns, then runs Grid instead.
//
// FlatMeanShift (flat.go) is a second algorithm: scikit-learn's flat-kernel
// MeanShift reproduced exactly, for users who compare with it.
package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Sentinel errors a caller may act on.
var (
	// ErrInput reports points or options that cannot be clustered (wrong
	// length, non-finite values, bad bandwidth).
	ErrInput = errors.New("cluster: invalid input")
)

// Options controls MeanShift. Zero values select the documented defaults.
type Options struct {
	// Bandwidth is the kernel standard deviation per axis, in that axis's
	// unit (mm for positions, HU, shape index units). An entry ≤ 0 (or a nil
	// slice) asks for the automatic rule of AutoBandwidth for that axis.
	Bandwidth []float64
	// Tol stops a mode search when one step is shorter than Tol bandwidths
	// (scaled units). Default 1e-3.
	Tol float64
	// MaxIter caps the steps of one mode search. Default 200.
	MaxIter int
	// Truncate is the kernel cut-off radius in bandwidths (scaled units):
	// points farther than this contribute nothing. Default 3.
	Truncate float64
	// MergeFrac merges modes closer than this many bandwidths (scaled
	// Euclidean distance). Default 0.5.
	MergeFrac float64
	// BinSize, when > 0, seeds the mode searches from bins instead of from
	// every point (like scikit-learn's bin_seeding): the scaled points are
	// binned on a grid of BinSize bandwidths in every axis, one search starts
	// at each occupied bin's mean, and every point takes the label of its
	// bin's mode. 0.5 is a good value (a bin straddling two basins is the
	// only source of error); 0 (default) starts one search per point, exact
	// but slower. Binning supports dim ≤ 8.
	BinSize float64
	// Reuse is the box side, in bandwidths, of the path-assisted search of
	// the Grid backend (see the package comment): a search stops when it
	// enters a box of side Reuse (on every scaled axis) that an earlier
	// search passed through, and takes that search's mode. Default 0.1; a
	// negative value disables it (every search runs to convergence, as the
	// BruteForce reference does). Ignored by BruteForce.
	Reuse float64
	// Weights, when non-nil, gives every point (N values, ≥ 0) a weight in
	// the kernel sums (weighted mean shift); nil means weight 1. Backends
	// receive the weights of the points they are given here (after
	// aggregation).
	Weights []float32
	// Aggregate, when > 0, replaces the data points in the kernel sums by
	// weighted bin means before the search: the scaled points are binned on
	// a grid of Aggregate bandwidths in every axis and each occupied bin
	// becomes one point at its (weighted) mean with the bin's total weight.
	// The kernel density changes only by the quantisation (the spread inside
	// a bin, at most Aggregate²/12 bandwidths² of variance per axis; 0.5 adds
	// ≤ 2 % to the effective bandwidth). Seeds and labels still come from
	// the original points (or BinSize bins). 0 (default) disables it; dim ≤ 8.
	Aggregate float64
	// Scale, when non-nil, gives every point (N values, finite, > 0) a
	// bandwidth scale: point i's bandwidth on the first ScaledAxes axes is
	// Scale[i]·Bandwidth[a] (the other axes keep Bandwidth[a]); nil means
	// all 1. See the package comment for the model. At most MaxScaleLevels
	// distinct values (e.g. 1, 2, 4, 8 for points from the levels of a
	// Gaussian pyramid): Grid keeps one cell list per value. Not with
	// Aggregate. Backends that cannot honour it return an
	// *UnsupportedError.
	Scale []float32
	// ScaledAxes is the number m of leading axes whose bandwidth Scale
	// multiplies, 1…dim; 0 (default) means min(3, dim): the spatial axes x,
	// y, z (mm). Ignored without Scale.
	ScaledAxes int
	// Backend performs the mode search; nil selects Grid{}.
	Backend Backend
	// Workers is ignored (kept so that callers still compile): parallel
	// backends use the process-wide worker budget of package par, and
	// results do not depend on it.
	//
	// Deprecated: set the budget with par.SetLimit.
	Workers int
}

// MaxScaleLevels is the largest number of distinct values Options.Scale
// may hold.
const MaxScaleLevels = 16

// SingleScale reports whether every point has scale 1 (Scale nil or all
// ones): the fixed-bandwidth case.
func (o *Options) SingleScale() bool {
	for _, s := range o.Scale {
		if s != 1 {
			return false
		}
	}
	return true
}

// WithDefaults returns o with the zero fields set to the documented
// defaults (what MeanShift hands a Backend; for calling Backend.Shift
// directly).
func (o Options) WithDefaults() Options { return o.withDefaults() }

// withDefaults fills the zero fields with the documented defaults.
func (o Options) withDefaults() Options {
	if o.Tol <= 0 {
		o.Tol = 1e-3
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 200
	}
	if o.Truncate <= 0 {
		o.Truncate = 3
	}
	if o.MergeFrac <= 0 {
		o.MergeFrac = 0.5
	}
	if o.Reuse == 0 {
		o.Reuse = 0.1
	}
	if o.Backend == nil {
		o.Backend = Grid{}
	}
	return o
}

// scaledAxes is the number of axes Scale applies to for dim-D points
// (ScaledAxes, default min(3, dim)).
func (o *Options) scaledAxes(dim int) int {
	if o.ScaledAxes == 0 {
		return min(3, dim)
	}
	return o.ScaledAxes
}

// Backend runs the mode search. Implementations receive points and modes
// already divided by the per-axis bandwidth (so the kernel is
// exp(−|d|²/2), truncated at |d| ≥ opt.Truncate) as row-major N×dim and
// M×dim float32 slices; modes hold the starting positions and are moved in
// place to the converged positions (step < opt.Tol, at most opt.MaxIter
// steps). opt has its defaults filled in; opt.Weights, when non-nil, holds
// one weight per point for the kernel sums (backends must honour it);
// opt.Scale, when non-nil, one scale per point (not all 1: MeanShift passes
// nil then) that multiplies the scaled distance's first opt.ScaledAxes
// axes' bandwidth (backends must honour it or refuse it with an
// *UnsupportedError, preferably from OptionChecker); opt.Reuse may be
// ignored by exact backends. Shift returns the largest number of steps any
// mode took. It must not keep references to the slices.
type Backend interface {
	// Name identifies the backend in logs and benchmarks.
	Name() string
	// Shift moves every mode uphill on the kernel density of points.
	Shift(points []float32, dim int, modes []float32, opt Options) (iters int, err error)
}

// Result is the outcome of MeanShift.
type Result struct {
	// Centers holds the merged modes, K×dim row-major, in the original
	// (unscaled) units, ordered by cluster size, largest first.
	Centers []float32
	// Sizes[c] is the number of points in cluster c.
	Sizes []int
	// Labels[i] is the cluster (index into Sizes) of point i.
	Labels []int32
	// Bandwidth is the per-axis bandwidth actually used (after AutoBandwidth).
	Bandwidth []float64
	// Iters is the largest number of mean-shift steps any point took.
	Iters int
	// Backend is the Name of the backend that ran.
	Backend string
	// Note is a remark for the log, or "": e.g. why Auto ran the CPU
	// backend instead of the GPU one.
	Note string
}

// K is the number of clusters.
func (r *Result) K() int { return len(r.Sizes) }

// MeanShift clusters the N points stored row-major in points (N×dim) and
// returns per-point labels and the cluster centres; see the package comment
// for the model. points is not modified. Bad input (ragged or non-finite
// points, bad bandwidths, weights or scales) is an ErrInput error.
func MeanShift(points []float32, dim int, opt Options) (*Result, error) {
	if dim < 1 || len(points)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values is not a whole number of %d-D points", ErrInput, len(points), dim)
	}
	opt = opt.withDefaults()
	bw, err := checkOptions(points, dim, &opt)
	if err != nil {
		return nil, err
	}
	n := len(points) / dim
	res := &Result{Bandwidth: bw, Backend: opt.Backend.Name()}
	if n == 0 {
		return res, nil
	}
	scaled, err := scalePoints(points, dim, bw, opt)
	if err != nil {
		return nil, err
	}
	// Seeds: every point, or the means of the occupied BinSize bins.
	var modes []float32
	var binOf []int32
	if opt.BinSize > 0 {
		modes, binOf, _ = binSeeds(scaled, nil, dim, opt.BinSize)
	} else {
		modes = make([]float32, len(scaled))
		copy(modes, scaled)
	}
	data := scaled
	if opt.Aggregate > 0 {
		data, _, opt.Weights = binSeeds(scaled, opt.Weights, dim, opt.Aggregate)
	}
	// The backend that runs: Auto may pick its fallback for these options.
	if r, ok := opt.Backend.(interface {
		Resolve(Options) (Backend, string)
	}); ok {
		opt.Backend, res.Note = r.Resolve(opt)
		res.Backend = opt.Backend.Name()
	}
	if c, ok := opt.Backend.(OptionChecker); ok {
		if err := c.CheckOptions(opt); err != nil {
			return nil, fmt.Errorf("cluster: backend %s: %w", opt.Backend.Name(), err)
		}
	}
	iters, err := opt.Backend.Shift(data, dim, modes, opt)
	if err != nil {
		return nil, fmt.Errorf("cluster: backend %s: %w", opt.Backend.Name(), err)
	}
	res.Iters = iters
	labels, centers, sizes := MergeModes(modes, dim, opt.MergeFrac)
	if binOf != nil {
		labels, centers, sizes = labelsFromBins(binOf, labels, centers, sizes, dim)
	}
	for c := 0; c < len(sizes); c++ {
		for a := 0; a < dim; a++ {
			centers[c*dim+a] = float32(float64(centers[c*dim+a]) * bw[a])
		}
	}
	res.Labels, res.Centers, res.Sizes = labels, centers, sizes
	return res, nil
}

// checkOptions validates the points and the options (defaults filled in)
// and returns the per-axis bandwidth (AutoBandwidth where asked for). It
// sets opt.Scale to nil when every scale is 1 and opt.ScaledAxes to
// min(3, dim) by default.
func checkOptions(points []float32, dim int, opt *Options) ([]float64, error) {
	if opt.Bandwidth != nil && len(opt.Bandwidth) != dim {
		return nil, fmt.Errorf("%w: %d bandwidths for %d-D points", ErrInput, len(opt.Bandwidth), dim)
	}
	for _, x := range points {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%w: non-finite coordinate", ErrInput)
		}
	}
	n := len(points) / dim
	bw := make([]float64, dim)
	var auto []float64 // computed only when some axis asks for it
	for a := 0; a < dim; a++ {
		if opt.Bandwidth != nil && opt.Bandwidth[a] > 0 {
			bw[a] = opt.Bandwidth[a]
		} else {
			if auto == nil {
				auto = AutoBandwidth(points, dim)
			}
			bw[a] = auto[a]
		}
		if !(bw[a] > 0) || math.IsInf(bw[a], 0) {
			return nil, fmt.Errorf("%w: bandwidth %g on axis %d", ErrInput, bw[a], a)
		}
	}
	if opt.Weights != nil {
		if len(opt.Weights) != n {
			return nil, fmt.Errorf("%w: %d weights for %d points", ErrInput, len(opt.Weights), n)
		}
		for _, w := range opt.Weights {
			if !(w >= 0) || math.IsInf(float64(w), 0) {
				return nil, fmt.Errorf("%w: weight %g", ErrInput, w)
			}
		}
	}
	if (opt.BinSize > 0 || opt.Aggregate > 0) && dim > 8 {
		return nil, fmt.Errorf("%w: bin seeding and aggregation support at most 8 dimensions, got %d", ErrInput, dim)
	}
	if opt.Scale != nil {
		opt.ScaledAxes = opt.scaledAxes(dim)
		if _, err := scaleLevels(opt.Scale, n, opt.ScaledAxes, dim); err != nil {
			return nil, err
		}
		if opt.SingleScale() {
			opt.Scale = nil
		} else if opt.Aggregate > 0 {
			return nil, fmt.Errorf("%w: Aggregate cannot be combined with per-point scales (Scale)", ErrInput)
		}
	}
	return bw, nil
}

// scaleLevels checks per-point scales (n values, finite, > 0, at most
// MaxScaleLevels distinct; m scaled axes of dim) and returns the distinct
// values in increasing order.
func scaleLevels(scale []float32, n, m, dim int) ([]float32, error) {
	if len(scale) != n {
		return nil, fmt.Errorf("%w: %d scales for %d points", ErrInput, len(scale), n)
	}
	if m < 1 || m > dim {
		return nil, fmt.Errorf("%w: ScaledAxes %d for %d-D points (want 1…%d)", ErrInput, m, dim, dim)
	}
	var lv []float32
	for i, s := range scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("%w: scale %g of point %d (want a finite value > 0)", ErrInput, s, i)
		}
		if len(lv) > 0 && lv[len(lv)-1] == s {
			continue
		}
		found := false
		for _, v := range lv {
			if v == s {
				found = true
				break
			}
		}
		if !found {
			if len(lv) == MaxScaleLevels {
				return nil, fmt.Errorf("%w: more than %d distinct scales", ErrInput, MaxScaleLevels)
			}
			lv = append(lv, s)
		}
	}
	// Insertion sort: at most MaxScaleLevels values.
	for i := 1; i < len(lv); i++ {
		for j := i; j > 0 && lv[j] < lv[j-1]; j-- {
			lv[j], lv[j-1] = lv[j-1], lv[j]
		}
	}
	return lv, nil
}

// scalePoints divides the points by the per-axis bandwidth (scaled units).
// A bandwidth so small that a coordinate overflows float32 (or, with
// per-point scales, a scaled coordinate divided by its scale does) is an
// ErrInput error, not a grid of 10³⁰ cells.
func scalePoints(points []float32, dim int, bw []float64, opt Options) ([]float32, error) {
	n := len(points) / dim
	scaled := make([]float32, len(points))
	for i := 0; i < n; i++ {
		for a := 0; a < dim; a++ {
			v := float32(float64(points[i*dim+a]) / bw[a])
			if math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%w: bandwidth %g on axis %d is too small for coordinate %g", ErrInput, bw[a], a, points[i*dim+a])
			}
			if opt.Scale != nil && a < opt.ScaledAxes && math.IsInf(float64(v*(1/opt.Scale[i])), 0) {
				return nil, fmt.Errorf("%w: scale %g of point %d is too small for coordinate %g", ErrInput, opt.Scale[i], i, points[i*dim+a])
			}
			scaled[i*dim+a] = v
		}
	}
	return scaled, nil
}

// labelsFromBins turns the labels of bin seeds into per-point labels
// (binOf: each point's bin); sizes then count points, not seeds, and the
// clusters are re-ordered by point count (ties keep their order).
func labelsFromBins(binOf, labels []int32, centers []float32, sizes []int, dim int) ([]int32, []float32, []int) {
	pl := make([]int32, len(binOf))
	cnt := make([]int, len(sizes))
	for i, b := range binOf {
		pl[i] = labels[b]
		cnt[pl[i]]++
	}
	order := bySize(cnt)
	newID := make([]int32, len(sizes))
	nc := make([]float32, len(centers))
	for nid, old := range order {
		newID[old] = int32(nid)
		sizes[nid] = cnt[old]
		copy(nc[nid*dim:(nid+1)*dim], centers[old*dim:(old+1)*dim])
	}
	for i := range pl {
		pl[i] = newID[pl[i]]
	}
	return pl, nc, sizes
}

// binSeeds bins the scaled N×dim points on a grid of side bin and returns
// the bin means (one per occupied bin, in order of first occurrence;
// weighted by w when non-nil), each point's bin and each bin's total weight.
// Bin coordinates are packed into one uint64 key (64/dim bits per axis) and
// looked up in an open-addressing table (batches of 16 keys, their slots
// read ahead so that the cache misses overlap); a Go map keyed by the bins'
// float64 coordinates serves data too widely spread for the packing.
func binSeeds(scaled, w []float32, dim int, bin float64) ([]float32, []int32, []float32) {
	n := len(scaled) / dim
	binOf := make([]int32, n)
	var lo [8]int64
	packed := n > 0
	bits := uint(64 / dim)
	for a := 0; a < dim && packed; a++ {
		mn, mx := scaled[a], scaled[a]
		for i := a; i < len(scaled); i += dim {
			mn, mx = min(mn, scaled[i]), max(mx, scaled[i])
		}
		// floor(x/bin) is monotonic in x: the extreme bins are those of
		// the extreme values.
		l, h := math.Floor(float64(mn)/bin), math.Floor(float64(mx)/bin)
		packed = bits < 63 && h-l < float64(int64(1)<<bits) && math.Abs(l) < 1<<53 && math.Abs(h) < 1<<53
		lo[a] = int64(l)
	}
	nb := int32(0)
	if packed {
		bins := newBoxTable(n/2 + 16)
		var keys, hs [16]uint64
		for i0 := 0; i0 < n; i0 += len(keys) {
			m := min(len(keys), n-i0)
			for j := 0; j < m; j++ {
				var k uint64
				for a, x := range scaled[(i0+j)*dim : (i0+j+1)*dim] {
					k = k<<bits | uint64(int64(math.Floor(float64(x)/bin))-lo[a])
				}
				keys[j], hs[j] = k, boxHash(k)
			}
			bins.touch(keys[:m], hs[:m])
			for j := 0; j < m; j++ {
				b, ok := bins.getOrPutH(keys[j], hs[j], nb)
				if !ok {
					nb++
				}
				binOf[i0+j] = b
			}
		}
	} else {
		idx := make(map[[8]float64]int32, n/8+16)
		var k8 [8]float64
		for i := 0; i < n; i++ {
			for a, x := range scaled[i*dim : (i+1)*dim] {
				c := math.Floor(float64(x) / bin)
				if c == 0 {
					c = 0 // one key for −0 and +0
				}
				k8[a] = c
			}
			b, ok := idx[k8]
			if !ok {
				b = nb
				idx[k8] = b
				nb++
			}
			binOf[i] = b
		}
	}
	sum := make([]float64, int(nb)*dim)
	cnt := make([]float64, nb)
	for i, b := range binOf {
		wi := 1.0
		if w != nil {
			wi = float64(w[i])
		}
		cnt[b] += wi
		s := sum[int(b)*dim : int(b+1)*dim]
		for a, x := range scaled[i*dim : (i+1)*dim] {
			s[a] += wi * float64(x)
		}
	}
	seeds := make([]float32, len(sum))
	tot := make([]float32, len(cnt))
	for b := range cnt {
		tot[b] = float32(cnt[b])
		c := math.Max(cnt[b], math.SmallestNonzeroFloat64)
		for a := 0; a < dim; a++ {
			seeds[b*dim+a] = float32(sum[b*dim+a] / c)
		}
	}
	return seeds, binOf, tot
}

// equalModes reports whether p and q hold the same float32 values.
func equalModes(p, q []float32) bool {
	for a := range p {
		if p[a] != q[a] {
			return false
		}
	}
	return true
}

// AutoBandwidth returns, per axis, Scott's multivariate rule of thumb
// h_a = σ_a · N^(−1/(dim+4)), with the robust spread σ_a = min(standard
// deviation, interquartile range/1.349) (falling back to the standard
// deviation, then 1, when the spread is zero). Units are those of the axis.
// It suits unimodal-ish data; for detection pass explicit bandwidths
// (positions: about the expected nodule radius).
func AutoBandwidth(points []float32, dim int) []float64 {
	n := len(points) / dim
	out := make([]float64, dim)
	if n == 0 {
		for a := range out {
			out[a] = 1
		}
		return out
	}
	f := math.Pow(float64(n), -1/float64(dim+4))
	col := make([]float64, n)
	for a := 0; a < dim; a++ {
		var s, s2 float64
		for i := 0; i < n; i++ {
			x := float64(points[i*dim+a])
			col[i] = x
			s += x
		}
		mean := s / float64(n)
		for _, x := range col {
			s2 += (x - mean) * (x - mean)
		}
		sd := math.Sqrt(s2 / math.Max(1, float64(n-1)))
		sort.Float64s(col)
		iqr := (col[(3*(n-1))/4] - col[(n-1)/4]) / 1.349
		sp := sd
		if iqr > 0 && iqr < sp {
			sp = iqr
		}
		if !(sp > 0) {
			sp = 1
		}
		out[a] = sp * f
	}
	return out
}
