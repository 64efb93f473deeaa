package cluster

// Flat-kernel mean shift with scikit-learn's semantics (sklearn.cluster.
// MeanShift, version 1.2), natively and in parallel. See FlatMeanShift.

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoModes reports that no seed of FlatMeanShift had any point within the
// bandwidth (scikit-learn raises ValueError in that case): with bin seeding
// and a large MinBinFreq there may be no seed at all, and in 5 or more
// dimensions a bin's grid point can lie farther than the bandwidth from all
// of its bin's points. A smaller MinBinFreq, a larger bandwidth or seeding
// from every point avoids it.
var ErrNoModes = errors.New("cluster: no point within the bandwidth of any seed")

// FlatOptions controls FlatMeanShift. Zero values select the documented
// defaults, which are scikit-learn's except for ClusterAll (Go's zero value
// false; scikit-learn defaults to cluster_all=True).
type FlatOptions struct {
	// Bandwidth is the radius of the flat kernel, in the points' units, the
	// same on every axis (scikit-learn's single bandwidth). Scale the axes
	// first when they have different units (EqualScale). Required, > 0.
	Bandwidth float64
	// BinSeeding starts the mode searches from the grid points
	// round(x/Bandwidth)·Bandwidth (rounding half to even, per axis, as
	// numpy.round) of the bins that hold at least MinBinFreq points, instead
	// of from every point. As in scikit-learn, when every point falls in a
	// bin of its own the points themselves are the seeds.
	BinSeeding bool
	// MinBinFreq is the least number of points a bin needs to give a seed
	// with BinSeeding. Default (0) 1; negative is an error.
	MinBinFreq int
	// ClusterAll labels every point with its nearest centre; when false, a
	// point farther than Bandwidth from every centre gets the label −1
	// (scikit-learn's cluster_all=False).
	ClusterAll bool
	// MaxIter caps the mean-shift steps of one seed. Default (0) 300 as in
	// scikit-learn; negative is an error.
	MaxIter int
	// Workers is ignored (kept so that callers still compile): the
	// process-wide worker budget of package par decides, and the result
	// does not depend on it. Negative is still an error.
	//
	// Deprecated: set the budget with par.SetLimit.
	Workers int
}

// FlatMeanShift clusters the N points stored row-major in points (N×dim,
// any units, one Bandwidth for every axis) with the flat-kernel mean shift of
// scikit-learn's MeanShift.fit, step for step:
//
//   - seeds: every point, or with BinSeeding the bin grid points (see
//     FlatOptions.BinSeeding), in order of the bins' first point;
//   - each seed moves to the mean of the points within distance ≤ Bandwidth
//     (squared Euclidean distance ≤ Bandwidth², computed in float64 in axis
//     order like scikit-learn's KD-tree), until a step is shorter than
//     1e-3·Bandwidth or after MaxIter steps; a seed with no point within
//     the bandwidth is dropped;
//   - the converged means are keyed by exact value (a later seed's entry
//     replaces an earlier one with the same mean); each mode's intensity is
//     the number of points that were within the bandwidth at the position
//     its last mean was computed from (scikit-learn's len(points_within));
//   - modes sorted by (intensity, coordinates) descending; every mode
//     within Bandwidth of an earlier kept mode is dropped (greedy);
//   - each point is labelled with its nearest kept centre (ties to the
//     first centre in that sorted order); with ClusterAll false, points
//     farther than Bandwidth from it get −1.
//
// Means are accumulated in float64 from the float32 points; they can differ
// from scikit-learn's in the last bits because the summation order differs.
//
// The Result's Centers (float32, input units) are ordered by Sizes (number
// of points labelled with the cluster, −1 not counted), largest first; ties
// keep scikit-learn's order (intensity, then coordinates, descending). Labels
// index Sizes and are −1 only when ClusterAll is false. Bandwidth repeats
// opt.Bandwidth on every axis, Iters is scikit-learn's n_iter_ (the most
// steps any seed completed) and Backend is "flat-grid".
//
// Phases (files flat_*.go): seeding, index, climbing, suppression,
// labelling, ordering. Speed (same results): points in y-z rows sorted by
// x, so a radius query scans only the points within the bandwidth's box on
// x, y, z; seeds run on the workers of the budget (package par); a search that reaches exactly a position an earlier
// search of its worker queried reuses that search's outcome (see
// flatClimber.climb). On LIDC-IDRI-0001's 47,639 exported points (bandwidth
// 4, bin seeding) that is about 0.1 s against scikit-learn's 28–31 s.
//
// Errors: ErrInput for a length that is not a multiple of dim, a
// non-finite coordinate or a bad option; ErrNoModes as documented there.
// N = 0 gives an empty Result. points is not modified.
func FlatMeanShift(points []float32, dim int, opt FlatOptions) (*Result, error) {
	if dim < 1 || len(points)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values is not a whole number of %d-D points", ErrInput, len(points), dim)
	}
	bw := opt.Bandwidth
	if !(bw > 0) || math.IsInf(bw, 0) {
		return nil, fmt.Errorf("%w: flat mean-shift bandwidth %g (want a finite value > 0)", ErrInput, bw)
	}
	if opt.MinBinFreq < 0 || opt.MaxIter < 0 || opt.Workers < 0 {
		return nil, fmt.Errorf("%w: negative MinBinFreq %d, MaxIter %d or Workers %d", ErrInput, opt.MinBinFreq, opt.MaxIter, opt.Workers)
	}
	if opt.MinBinFreq == 0 {
		opt.MinBinFreq = 1
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 300
	}
	for i, x := range points {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%w: non-finite coordinate %g (point %d, axis %d)", ErrInput, x, i/dim, i%dim)
		}
	}
	res := &Result{Bandwidth: make([]float64, dim), Backend: "flat-grid"}
	for a := range res.Bandwidth {
		res.Bandwidth[a] = bw
	}
	n := len(points) / dim
	if n == 0 {
		res.Labels = []int32{}
		return res, nil
	}

	seeds := flatSeeds(points, dim, bw, opt)
	ix := newFlatIndex(points, dim, bw, 1)
	ns := len(seeds) / dim
	counts, iters := flatClimbAll(ix, seeds, opt.MaxIter)
	res.Iters = iters
	modes, intensity := flatUniqueModes(seeds, counts, dim)
	if len(intensity) == 0 {
		return nil, fmt.Errorf("%w (bandwidth %g, %d seeds)", ErrNoModes, bw, ns)
	}
	centers := flatSuppress(modes, dim, bw)
	labels := make([]int32, n)
	flatNearest(points, dim, centers, bw, opt.ClusterAll, labels)
	res.Labels, res.Centers, res.Sizes = flatOrder(labels, centers, dim)
	return res, nil
}

// flatSeeds is the seeding phase: the bin grid points (flatBinSeeds) with
// opt.BinSeeding, else every point; float64 S×dim (exact for the float32
// inputs).
func flatSeeds(points []float32, dim int, bw float64, opt FlatOptions) []float64 {
	if opt.BinSeeding {
		return flatBinSeeds(points, dim, bw, opt.MinBinFreq)
	}
	seeds := make([]float64, len(points))
	for i, x := range points {
		seeds[i] = float64(x)
	}
	return seeds
}

// flatOrder is the last phase: clusters renumbered by size (points
// labelled with them, −1 not counted; largest first, ties keep the
// suppression order), centres converted to float32. labels is relabelled
// in place.
func flatOrder(labels []int32, centers []float64, dim int) ([]int32, []float32, []int) {
	k := len(centers) / dim
	sizes := make([]int, k)
	for _, l := range labels {
		if l >= 0 {
			sizes[l]++
		}
	}
	order := bySize(sizes)
	newID := make([]int32, k)
	outC := make([]float32, k*dim)
	outS := make([]int, k)
	for nid, old := range order {
		newID[old] = int32(nid)
		outS[nid] = sizes[old]
		for a := 0; a < dim; a++ {
			outC[nid*dim+a] = float32(centers[old*dim+a])
		}
	}
	for i, l := range labels {
		if l >= 0 {
			labels[i] = newID[l]
		}
	}
	return labels, outC, outS
}
