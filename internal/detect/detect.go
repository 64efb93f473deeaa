// Package detect finds lung nodule candidates with the shape-based method of
// Ye et al. (IEEE TBME 2009): voxels of a 1 mm HU volume that lie in the lung
// mask and are denser than lung parenchyma become 5-D points (x, y, z in LPS
// mm, smoothed HU, volumetric shape index), 5-D mean-shift groups them, and
// each group becomes a candidate with a documented score. Nodules are
// blob-like (shape index near 1), vessels tube-like (0.75), walls flat (0.5).
package detect

import (
	"errors"
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// ErrInput reports volumes that cannot be processed together (nil, wrong
// length, different grids).
var ErrInput = errors.New("detect: invalid input")

// Options controls Run. Zero values select the documented defaults.
type Options struct {
	// HUMin: only mask voxels whose HU after the level-0 smoothing is
	// strictly above this value can become points. 0 selects the default
	// −750 HU, low enough for ground-glass lesions (for a 0 HU threshold
	// pass a tiny value such as 1e-9).
	HUMin float64
	// Levels is the number of pyramid levels (scales SigmaMM·2^L mm,
	// L = 0…Levels−1); 0 selects the default 5 (1.5…24 mm: a ball answers
	// most at σ = r/√3, so up to about 85 mm, and beyond that still as a
	// blob).
	Levels int
	// MinResponse is the least scale-normalised blob response −σ²∇²F (HU)
	// a voxel needs at its selected scale to become a point. 0 selects the
	// default; a negative value keeps every voxel.
	MinResponse float64
	// SIMin: only points whose shape index is at least this value are
	// clustered. Default 0.8; a negative value keeps all points.
	SIMin float64
	// SigmaMM is the Gaussian smoothing (mm) applied before the derivatives
	// of the shape index, and the smoothing of the HU coordinate of each
	// point. Default 1.5 mm.
	SigmaMM float64
	// Bandwidth is the mean-shift kernel bandwidth per point axis: x, y, z
	// (mm), HU, shape index. Zero entries take the defaults 4 mm, 4 mm,
	// 4 mm, 200 HU, 0.2.
	Bandwidth [5]float64
	// Cluster passes backend, tolerance, truncation and merging options to
	// cluster.MeanShift (its Bandwidth field is ignored; use Bandwidth).
	// Zero Tol and BinSize default to 0.01 and 0.5 here (a negative
	// BinSize seeds from every point); Reuse keeps cluster's default
	// (path-assisted search, boxes of 0.1 bandwidth; −1 for the exact one).
	Cluster cluster.Options
	// MinDiameterMM and MaxDiameterMM bound the equivalent-sphere diameter
	// (mm) of a cluster kept as a candidate. Defaults 3 and 100 mm.
	MinDiameterMM, MaxDiameterMM float64
	// MaxCandidates caps the number of candidates returned (highest scores
	// first). Default 10; negative means no cap.
	MaxCandidates int
	// MinScore drops candidates with a lower score. Default 0.
	MinScore float64
	// Stage1 is how many first-stage candidates (best first-stage scores)
	// are segmented and re-scored by the second stage. Default 40.
	Stage1 int
	// BlobLook is how many more first-stage candidates, after the Stage1
	// best, the second stage looks at where their cluster is most
	// blob-like at a fine scale (see Workspace.reseed): a small nodule
	// whose points merged with a vessel's ranks low in the first stage,
	// but its blob point lies on it. Candidates whose strongest blob is
	// coarse are not looked at. Default 20; negative: none.
	BlobLook int
	// PeakLook is how many fine peaks the second stage looks at besides:
	// small blobs whose points the mean-shift put into a larger
	// structure's cluster (see Workspace.finePeaks), best first-stage
	// score first. Default 20; negative: none.
	PeakLook int
	// Nodule passes options to the per-candidate segmentation.
	Nodule nodule.Options
	// SeriesUID is copied into every candidate.
	SeriesUID string
	// Work, when non-nil, lends reusable buffers across calls (one scan at a
	// time per Workspace).
	Work *Workspace
	// noBumps turns the pleural look off (addBumps), for tests that
	// check what another step finds on its own.
	noBumps bool
	// noGroundGlass turns the ground-glass look off (addGroundGlass).
	noGroundGlass bool
}

// Defaults are the documented default options. SIMin 0.8 keeps blob-like
// points only (vessels score ≈ 0.75, walls ≈ 0.5), as Ye et al. do, which
// cuts the points of a chest CT about five-fold; the cluster search stops at
// steps below 0.01 bandwidth and seeds from half-bandwidth bins.
var Defaults = Options{HUMin: -750, Levels: 5, MinResponse: 20, SIMin: 0.8, SigmaMM: 1.5,
	Bandwidth: [5]float64{4, 4, 4, 200, 0.2}, MinDiameterMM: 3, MaxDiameterMM: 100, MaxCandidates: 10, Stage1: 40, BlobLook: 20, PeakLook: 20}

func (o Options) withDefaults() Options {
	d := Defaults
	if o.HUMin == 0 {
		o.HUMin = d.HUMin
	}
	if o.SIMin == 0 {
		o.SIMin = d.SIMin
	}
	if o.Levels <= 0 {
		o.Levels = d.Levels
	}
	if o.MinResponse == 0 {
		o.MinResponse = d.MinResponse
	}
	if o.Cluster.Tol == 0 {
		o.Cluster.Tol = 1e-2
	}
	if o.Cluster.BinSize == 0 {
		o.Cluster.BinSize = 0.5
	}
	if o.SigmaMM <= 0 {
		o.SigmaMM = d.SigmaMM
	}
	for a := range o.Bandwidth {
		if o.Bandwidth[a] <= 0 {
			o.Bandwidth[a] = d.Bandwidth[a]
		}
	}
	if o.MinDiameterMM <= 0 {
		o.MinDiameterMM = d.MinDiameterMM
	}
	if o.MaxDiameterMM <= 0 {
		o.MaxDiameterMM = d.MaxDiameterMM
	}
	if o.MaxCandidates == 0 {
		o.MaxCandidates = d.MaxCandidates
	}
	if o.Stage1 == 0 {
		o.Stage1 = d.Stage1
	}
	if o.BlobLook == 0 {
		o.BlobLook = d.BlobLook
	}
	if o.PeakLook == 0 {
		o.PeakLook = d.PeakLook
	}
	return o
}

// Workspace holds volume-sized buffers reused between Run calls (touching
// fresh memory is slow on the target machines). The rule, as everywhere in
// lungctl: a buffer is reused when its capacity suffices and reallocated
// otherwise; one scan at a time per Workspace. After Run, pyr's level-0
// buffer holds the small-lesion look's 1 mm smoothing (isolatedBlobs), not
// the pyramid's level 0; the next Run builds the pyramid again.
type Workspace struct {
	crop   *volume.Volume[int16]
	pyr    features.Pyramid
	resp   []*volume.Volume[float32]
	points pointSet
	nws    []*nodule.Workspace
	iso    []*isoScratch
	// seen and cur are the pleural look's bit sets over the crop: voxels
	// flooded by any piece, and by the one being flooded (pleuralBumps).
	seen, cur []uint64
	// gg holds the ground-glass look's cell images (groundGlassBlobs).
	gg ggWork
	// lo is the crop's first voxel in the scan (cropToMask).
	lo [3]int
}

// Result is the outcome of Run.
type Result struct {
	// Candidates are ranked by DetectScore, highest first; Probability =
	// DetectScore and Malignancy = NaN.
	Candidates []candidate.Candidate
	// Points holds the clustered points, N×5 row-major float32: x, y, z
	// (LPS mm), smoothed HU, shape index; for export (cluster.WritePointsNPY).
	Points []float32
	// Scale[q] is point q's spatial bandwidth multiplier (2^level).
	Scale []float32
	// Weight[q] is the number of 1 mm voxels point q stands for.
	Weight []float32
	// Labels[i] is the mean-shift cluster of point i.
	Labels []int32
	// Bandwidth is the per-axis base bandwidth used (mm, mm, mm, HU, SI).
	Bandwidth []float64
	// Clusters is the number of mean-shift clusters before filtering.
	Clusters int
	// Nodules[i] is the lesion segmented and measured at Candidates[i]
	// (nil when none could be segmented there).
	Nodules []*nodule.Result
	// Features[i] is what the second stage scored Candidates[i] on.
	Features []Features
	// Note says when the mean-shift backend fell back (e.g. a GPU backend
	// that cannot run per-point bandwidths ran on the CPU instead).
	Note string
}

// Run detects nodule candidates in a 1 mm HU volume hu (any grid works; the
// spacing is honoured, but the shape index assumes an orthonormal
// direction) restricted to the lung mask lung (same grid, 1 = lung).
// The phases: crop to the mask's box, build the Gaussian pyramid, select
// scale-adaptive points (selectPoints), cluster them by variable-bandwidth
// mean-shift, and turn clusters into scored candidates (candidates).
func Run(hu *volume.Volume[int16], lung *volume.Volume[uint8], opt Options) (*Result, error) {
	if err := checkInputs(hu, lung); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	// Most segmented candidates are dropped: their descriptors wait until
	// the list is cut (describe).
	opt.Nodule.DeferDescriptors = true
	res := &Result{Bandwidth: opt.Bandwidth[:]}
	ws := opt.Work
	if ws == nil {
		ws = &Workspace{}
	}
	inLung, ok, err := ws.points0(hu, lung, opt)
	if err != nil {
		return nil, err
	}
	if !ok {
		return res, nil
	}
	ps := &ws.points
	res.Points, res.Scale, res.Weight = ps.pts, ps.scale, ps.weight
	if ps.n() == 0 {
		return res, nil
	}
	labels, k, note, err := clusterPoints(ps, opt)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	res.Labels, res.Clusters, res.Note = labels, k, note
	cs, st := ws.candidates(hu, inLung, ps, labels, k, opt)
	cs, meas, feats := ws.refine(hu, lung, cs, st, opt)
	cs, meas, feats, err = ws.addIsolated(hu, lung, inLung, cs, meas, feats, opt)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if opt.MaxCandidates > 0 && len(cs) > opt.MaxCandidates {
		cs, meas, feats = cs[:opt.MaxCandidates], meas[:opt.MaxCandidates], feats[:opt.MaxCandidates]
	}
	if err := ws.describe(hu, lung, cs, meas, feats); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	res.Candidates, res.Nodules, res.Features = cs, meas, feats
	return res, nil
}

// describe computes the descriptors of the reported candidates' lesions
// (nodule.Result.Describe: spiculation, lobulation, distance to the
// pleura), which their segmentation deferred (Run segments every
// candidate with nodule.Options.DeferDescriptors: most are dropped), and
// copies them into the candidates and their features.
func (ws *Workspace) describe(hu *volume.Volume[int16], lung *volume.Volume[uint8], cs []candidate.Candidate, meas []*nodule.Result, feats []Features) error {
	// Each lesion once: two candidates never share one, but Describe on
	// one lesion from two workers would race.
	var todo []*nodule.Result
	seen := map[*nodule.Result]bool{}
	for _, m := range meas {
		if m != nil && !seen[m] {
			seen[m] = true
			todo = append(todo, m)
		}
	}
	for len(ws.nws) < par.Limit() {
		ws.nws = append(ws.nws, &nodule.Workspace{})
	}
	errs := make([]error, len(todo))
	par.For(len(todo), func(w, i int) { errs[i] = todo[i].Describe(hu, lung, ws.nws[w]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, m := range meas {
		if m == nil {
			continue
		}
		cs[i].Spiculation, cs[i].Lobulation, cs[i].PleuraDistanceMM = m.Spiculation, m.Lobulation, m.PleuraDistanceMM
		feats[i].Lobulation, feats[i].Spiculation = m.Lobulation, m.Spiculation
	}
	return nil
}

// points0 is Run's first phases: crop hu to the mask's box, build the
// Gaussian pyramid and select the points into ws.points. inLung tells
// whether a crop voxel is lung; ok is false for an empty mask.
func (ws *Workspace) points0(hu *volume.Volume[int16], lung *volume.Volume[uint8], opt Options) (inLung func(i, j, k int) bool, ok bool, err error) {
	lo, ok := ws.cropToMask(hu, lung, opt)
	if !ok {
		return nil, false, nil
	}
	ws.lo = lo
	// Derivatives need at least a voxel of smoothing: on a coarse grid
	// (e.g. --spacing 2) level 0 starts at one voxel.
	sigma0 := math.Max(opt.SigmaMM, math.Max(hu.Spacing[0], math.Max(hu.Spacing[1], hu.Spacing[2])))
	if err := features.BuildPyramid(&ws.pyr, ws.crop, sigma0, opt.Levels); err != nil {
		return nil, false, fmt.Errorf("detect: %w", err)
	}
	inLung = func(i, j, k int) bool { return lung.At(lo[0]+i, lo[1]+j, lo[2]+k) != 0 }
	ws.selectPoints(inLung, opt)
	return inLung, true, nil
}

// checkInputs validates the HU volume and the mask and that they share a grid.
func checkInputs(hu *volume.Volume[int16], lung *volume.Volume[uint8]) error {
	if hu == nil || lung == nil {
		return fmt.Errorf("%w: nil volume", ErrInput)
	}
	if err := hu.Check(); err != nil {
		return fmt.Errorf("detect: HU volume: %w", err)
	}
	if err := lung.Check(); err != nil {
		return fmt.Errorf("detect: lung mask: %w", err)
	}
	if hu.Dims != lung.Dims {
		return fmt.Errorf("%w: HU dims %v but mask dims %v", ErrInput, hu.Dims, lung.Dims)
	}
	for a := 0; a < 3; a++ {
		if math.Abs(hu.Spacing[a]-lung.Spacing[a]) > 1e-4 || math.Abs(hu.Origin[a]-lung.Origin[a]) > 1e-3 {
			return fmt.Errorf("%w: HU and mask grids differ (spacing %v vs %v, origin %v vs %v)",
				ErrInput, hu.Spacing, lung.Spacing, hu.Origin, lung.Origin)
		}
	}
	return nil
}

// cropToMask copies into ws.crop the box of hu around the mask, widened by
// the support of the coarsest smoothing the pyramid needs (capped at 32
// voxels), and returns the box's first voxel; ok is false for an empty mask.
func (ws *Workspace) cropToMask(hu *volume.Volume[int16], lung *volume.Volume[uint8], opt Options) (lo [3]int, ok bool) {
	lo, hi, any := maskBox(lung)
	if !any {
		return lo, false
	}
	for a := 0; a < 3; a++ {
		m := min(int(math.Ceil(2*opt.SigmaMM/hu.Spacing[a]))+2, 32)
		lo[a] = max(0, lo[a]-m)
		hi[a] = min(hu.Dims[a]-1, hi[a]+m)
	}
	cd := [3]int{hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1}
	cg := hu.Grid
	cg.Dims = cd
	cg.Origin = hu.IndexToWorld(volume.Vec3{float64(lo[0]), float64(lo[1]), float64(lo[2])})
	n := cd[0] * cd[1] * cd[2]
	if ws.crop == nil || cap(ws.crop.Data) < n {
		ws.crop = &volume.Volume[int16]{Data: make([]int16, n)}
	}
	ws.crop.Grid = cg
	ws.crop.Data = ws.crop.Data[:n]
	par.Chunks(cd[2], 8, func(_, k0, k1 int) {
		for k := k0; k < k1; k++ {
			for j := 0; j < cd[1]; j++ {
				src := hu.Index(lo[0], lo[1]+j, lo[2]+k)
				copy(ws.crop.Data[(k*cd[1]+j)*cd[0]:][:cd[0]], hu.Data[src:src+cd[0]])
			}
		}
	})
	return lo, true
}

// clusterPoints runs one scale-adaptive mean-shift over all the points:
// each point's spatial bandwidth is 2^level times the base (Scale), its
// weight the voxels it stands for. It returns per-point labels, the number
// of clusters and the backend's note (e.g. why a GPU backend fell back).
func clusterPoints(ps *pointSet, opt Options) ([]int32, int, string, error) {
	copt := opt.Cluster
	copt.Bandwidth = opt.Bandwidth[:]
	copt.Weights = ps.weight
	copt.Scale = ps.scale
	copt.ScaledAxes = 3
	cr, err := cluster.MeanShift(ps.pts, 5, copt)
	if err != nil {
		return nil, 0, "", err
	}
	return cr.Labels, cr.K(), cr.Note, nil
}

// maskBox returns the inclusive voxel bounding box of the non-zero voxels
// (slabs of slices in parallel; a row is read from each end up to its
// first and last non-zero voxel).
func maskBox(m *volume.Volume[uint8]) (lo, hi [3]int, any bool) {
	type box struct {
		lo, hi [3]int
		any    bool
	}
	nx, ny := m.Dims[0], m.Dims[1]
	none := box{lo: [3]int{m.Dims[0], m.Dims[1], m.Dims[2]}, hi: [3]int{-1, -1, -1}}
	per := make([]box, par.Limit())
	for w := range per {
		per[w] = none
	}
	par.Chunks(m.Dims[2], 8, func(w, k0, k1 int) {
		b := per[w] // a copy: workers' boxes share a cache line
		defer func() { per[w] = b }()
		for k := k0; k < k1; k++ {
			for j := 0; j < ny; j++ {
				row := m.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
				first, last := volume.RowSpan(row)
				if first < 0 {
					continue
				}
				b.any = true
				b.lo = [3]int{min(b.lo[0], first), min(b.lo[1], j), min(b.lo[2], k)}
				b.hi = [3]int{max(b.hi[0], last), max(b.hi[1], j), max(b.hi[2], k)}
			}
		}
	})
	lo, hi = none.lo, none.hi
	for _, b := range per {
		any = any || b.any
		for a := range lo {
			lo[a], hi[a] = min(lo[a], b.lo[a]), max(hi[a], b.hi[a])
		}
	}
	return lo, hi, any
}
