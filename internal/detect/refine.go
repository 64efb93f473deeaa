package detect

import (
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// Features are what the second stage knows about one first-stage
// candidate: the cluster's own statistics and the measurements of the
// lesion segmented at it.
type Features struct {
	// Stage1 is the first-stage score (Score).
	Stage1 float64
	// MeanSI, ClusterDiamMM, ClusterHU, Fill: the cluster's mean shape
	// index, equivalent diameter (mm), mean raw HU and fill (see fill).
	MeanSI, ClusterDiamMM, ClusterHU, Fill float64
	// Response is the largest scale-normalised blob response (HU) of the
	// cluster's points; Level the coarsest pyramid level among them.
	Response float64
	Level    int
	// Segmented is false when no lesion could be segmented at the
	// candidate (the rest below is then zero).
	Segmented bool
	// Sphericity, Lobulation, Spiculation as nodule.Result defines them.
	Sphericity, Lobulation, Spiculation float64
	// SegDiamMM is the segmented body's volume-equivalent diameter (mm);
	// MeanDiamMM its Lung-RADS mean diameter; Elongation long/short axis.
	SegDiamMM, MeanDiamMM, Elongation float64
	// Contrast is the lesion core's HU above the surrounding lung.
	Contrast float64
	// SolidFraction is the solid component's share of the body's volume.
	SolidFraction float64
	// Offset is the distance (mm) from the cluster centre to the segmented
	// body's centroid, relative to the body's radius.
	Offset float64
	// WallContact is the share of the body's surface facing the chest wall,
	// mediastinum or diaphragm (outside the lung mask).
	WallContact float64
	// CapCut is the share of the body's surface cut by the segmentation's
	// reach (see nodule.Result.CapCut).
	CapCut float64
	// BlobRatio is how round the intensity is at the lesion's centre at
	// its own scale (nodule.Result.BlobRatio: 0 for a tube, 1 for a ball).
	BlobRatio float64
	// Isolated is the contrast (smoothed HU over the lung around it) of
	// the closed blob found at the candidate by the isolated-blob look
	// (see addIsolated), or of the lesion segmented at a pleural bump
	// (CoreHU − BackgroundHU, see addBumps); the largest when both did; 0
	// when neither found one.
	Isolated float64
	// GroundGlass is the contrast (HU over the lung around it, on the
	// look's cells) of the ground-glass look's maximum at the candidate
	// (see addGroundGlass); 0 when that look found none there.
	GroundGlass float64
}

// withLesion returns f with the features of the lesion r segmented for a
// candidate at the LPS point at (mm) filled in; f itself when r is nil.
func withLesion(f Features, at [3]float64, r *nodule.Result) Features {
	if r == nil {
		return f
	}
	f.Segmented = true
	f.Sphericity, f.Lobulation, f.Spiculation = r.Sphericity, r.Lobulation, r.Spiculation
	f.SegDiamMM = math.Cbrt(6 * r.VolumeMM3 / math.Pi)
	f.MeanDiamMM = r.MeanDiameterMM
	if r.ShortAxisMM > 0 {
		f.Elongation = r.LongAxisMM / r.ShortAxisMM
	}
	f.Contrast = r.CoreHU - r.BackgroundHU
	if r.VolumeMM3 > 0 {
		f.SolidFraction = r.SolidVolumeMM3 / r.VolumeMM3
	}
	f.Offset = dist3(at, r.Centre) / math.Max(f.SegDiamMM/2, 1)
	f.WallContact = r.WallContact
	f.CapCut = r.CapCut
	f.BlobRatio = r.BlobRatio
	return f
}

// refine segments the first-stage candidates (in parallel under the
// worker budget; those after the Stage1 best, the BlobLook ones, at their
// fine-scale blob point only, and dropped where that finds nothing),
// computes their Features and the final DetectScore, and
// returns them re-ranked with their measurements (nil where none): a
// candidate whose lesion is already reported is dropped (duplicate), and
// one whose part-solid lesion encloses a kept core replaces that core's
// measurement (encloses).
func (ws *Workspace) refine(hu *volume.Volume[int16], lung *volume.Volume[uint8], cs []candidate.Candidate,
	st []clusterStats, opt Options) ([]candidate.Candidate, []*nodule.Result, []Features) {
	n := len(cs)
	meas := make([]*nodule.Result, n)
	feats := make([]Features, n)
	drop := make([]bool, n)
	for len(ws.nws) < par.Limit() {
		ws.nws = append(ws.nws, &nodule.Workspace{})
	}
	par.For(n, func(w, i int) {
		c := cs[i]
		f := Features{Stage1: c.DetectScore, MeanSI: c.MeanSI, ClusterDiamMM: c.DiameterMM, ClusterHU: c.MeanHU,
			Fill: c.Compactness, Response: st[i].resp, Level: st[i].level}
		var r *nodule.Result
		if opt.Stage1 > 0 && i >= opt.Stage1 || st[i].look {
			// A BlobLook candidate or a fine peak: only its fine-scale
			// blob point.
			if st[i].blobLevel <= reseedMaxLevel {
				r, _ = nodule.Segment(hu, lung, st[i].blobAt, ws.blobHint(st[i]), opt.Nodule, ws.nws[w])
			}
			r = ws.reseedOwn(hu, lung, w, f, c.World, st[i].blobAt, r, st[i], opt)
			if r == nil {
				drop[i] = true
				return
			}
		} else {
			// Segment returns no lesion with its error.
			r, _ = nodule.Segment(hu, lung, c.World, sizeHint(c.DiameterMM, st[i].level, ws.pyr.Sigma), opt.Nodule, ws.nws[w])
			r = ws.reseed(hu, lung, w, f, c.World, r, st[i], opt)
			r = ws.reseedOwn(hu, lung, w, f, c.World, c.World, r, st[i], opt)
		}
		meas[i] = r
		f = withLesion(f, c.World, r)
		feats[i] = f
	})
	for i := range cs {
		cs[i].DetectScore = FinalScore(feats[i])
		cs[i].Probability = cs[i].DetectScore
		if m := meas[i]; m != nil {
			Measured(&cs[i], m)
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rankIdx(cs, idx)
	var outC []candidate.Candidate
	var outM []*nodule.Result
	var outF []Features
	for _, i := range idx {
		if drop[i] {
			continue
		}
		if k := enclosedKept(meas[i], cs[i].DetectScore, outM); k >= 0 {
			// The kept candidate is the solid core of this part-solid
			// lesion, or a part of this lesion: report the whole lesion,
			// at the kept candidate's score.
			score := outC[k].DetectScore
			outC[k] = cs[i]
			outC[k].DetectScore, outC[k].Probability = score, score
			outM[k] = meas[i]
			continue
		}
		if duplicate(cs[i].World, meas[i], outC, outM) {
			continue
		}
		outC, outM, outF = append(outC, cs[i]), append(outM, meas[i]), append(outF, feats[i])
	}
	return mergeOverlaps(outC, outM, outF)
}

// mergeOverlaps reports once the kept lesions that a replacement (a whole
// lesion taking a kept part's place) has made overlap: a lower-ranked one
// whose body holds a higher-ranked one's centre, or whose centre lies in
// the higher-ranked one's body, is dropped, and its measurement replaces
// the higher-ranked one's when it completes it (see completes). A 72 mm
// mass met by three clusters was otherwise reported twice.
func mergeOverlaps(cs []candidate.Candidate, meas []*nodule.Result, feats []Features) ([]candidate.Candidate, []*nodule.Result, []Features) {
	for a := 0; a < len(cs); a++ {
		for b := a + 1; b < len(cs); {
			same := duplicate(cs[b].World, meas[b], cs[a:a+1], meas[a:a+1])
			if !same {
				b++
				continue
			}
			if completes(meas[b], cs[b].DetectScore, meas[a]) {
				score := cs[a].DetectScore
				cs[a], meas[a] = cs[b], meas[b]
				cs[a].DetectScore, cs[a].Probability = score, score
			}
			cs = append(cs[:b], cs[b+1:]...)
			meas = append(meas[:b], meas[b+1:]...)
			feats = append(feats[:b], feats[b+1:]...)
		}
	}
	return cs, meas, feats
}

// reseed segments again at the cluster's strongest blob point when that
// lies 2 mm or more from the cluster's mean (at, LPS mm), and returns the
// lesion of the two that scores higher (FinalScore; nil when neither could
// be segmented). A cluster that merged a small nodule with the vessels
// around it has its mean between them, where the segmentation follows the
// vessels; its strongest blob point lies on the nodule, at the scale of
// the nodule (the hint 2√3·σ, where a ball answers most). A part-solid
// lesion measured at the mean keeps its place, though, when it encloses
// the body found at the blob point and itself scores 0.5 or more: that
// body is its solid core, the part that answers most. Blob points of the
// coarser levels (reseedMaxLevel) are not tried: there the cluster is a
// large lesion's few weighted points, its mean and its blob point both
// inside it, and a second segmentation of a mass is costly (on seeds
// 101–120 and 1–20 trying every level found the same lesions, moved
// masses' diameters by 2–6 mm either way, and took about three times the
// added time).
func (ws *Workspace) reseed(hu *volume.Volume[int16], lung *volume.Volume[uint8], w int, f Features,
	at [3]float64, r *nodule.Result, st clusterStats, opt Options) *nodule.Result {
	if dist3(at, st.blobAt) < 2 || st.blobLevel > reseedMaxLevel {
		return r
	}
	return ws.segmentBetter(hu, lung, w, f, at, r, st.blobAt, st.blobLevel, opt)
}

// segmentBetter segments at the LPS point p (mm) with the hint of blob
// level level and returns, of r and that lesion, the one keepFirst
// chooses (scored as found for the candidate at at; r when nothing is
// segmented at p).
func (ws *Workspace) segmentBetter(hu *volume.Volume[int16], lung *volume.Volume[uint8], w int, f Features,
	at [3]float64, r *nodule.Result, p [3]float64, level int, opt Options) *nodule.Result {
	r2, err := nodule.Segment(hu, lung, p, ws.levelHint(level), opt.Nodule, ws.nws[w])
	if err != nil {
		return r
	}
	if r == nil {
		return r2
	}
	if keepFirst(r, r2, FinalScore(withLesion(f, at, r)), FinalScore(withLesion(f, at, r2))) {
		return r
	}
	return r2
}

// reseedOwn segments at a pool's better-ranked cluster's own blob point
// (clusterStats.ownAt, see mergeCoarse), when it has one, and keeps the
// better lesion as reseed does; not when r, the lesion found so far, was
// segmented within 2 mm of it (tried: the candidate's mean, or on the
// blob-look path its blob point). Both second-stage paths try it: the
// pool's mean and blob point, or its blob point alone (a BlobLook
// candidate), may lie off the small lesion whose cluster pooled the
// others.
func (ws *Workspace) reseedOwn(hu *volume.Volume[int16], lung *volume.Volume[uint8], w int, f Features,
	at, tried [3]float64, r *nodule.Result, st clusterStats, opt Options) *nodule.Result {
	if !st.hasOwn || r != nil && dist3(tried, st.ownAt) < 2 {
		return r
	}
	return ws.segmentBetter(hu, lung, w, f, at, r, st.ownAt, st.ownLevel, opt)
}

// blobHint is the lesion diameter (mm) that the scale of a cluster's
// strongest blob point implies: a ball answers most at σ = r/√3.
func (ws *Workspace) blobHint(st clusterStats) float64 { return ws.levelHint(st.blobLevel) }

// levelHint is the lesion diameter (mm) that a blob point of pyramid level
// level implies (blobHint).
func (ws *Workspace) levelHint(level int) float64 {
	return 2 * math.Sqrt(3) * ws.pyr.Sigma[min(level, len(ws.pyr.Sigma)-1)]
}

// reseedMaxLevel is the coarsest pyramid level whose blob point reseed
// tries (σ 3 mm at the defaults: lesions up to about 10 mm).
const reseedMaxLevel = 1

// keepFirst is reseed's choice between the lesion r measured at the
// cluster's mean (score s1) and r2 at its blob point (score s2).
func keepFirst(r, r2 *nodule.Result, s1, s2 float64) bool {
	return s2 <= s1 || encloses(r, r2) && s1 >= 0.5
}

// sizeHint is the diameter (mm) the segmentation starts from: the cluster's
// equivalent diameter, or, for a cluster with points from level 3 or
// coarser (σ ≥ 12 mm at the defaults), what that scale says: a ball answers
// most at σ = r/√3, so its diameter is about 2√3·σ; 0.8 of that, since the
// coarsest level also answers to somewhat smaller masses. A mass's points
// are few and weighted, and its cluster's voxel count says little of its
// size.
func sizeHint(clusterMM float64, level int, sigma []float64) float64 {
	if level < 3 || level >= len(sigma) {
		return clusterMM
	}
	return math.Max(clusterMM, 0.8*2*math.Sqrt(3)*sigma[level])
}

// Measured copies the lesion measured at a candidate into its fields: the
// centre moves to the lesion's centroid, and the type, axes, volume, solid
// part, spiculation, lobulation and distance to the pleura are filled in.
func Measured(c *candidate.Candidate, m *nodule.Result) {
	c.World = m.Centre
	c.Type = string(m.Type)
	c.LongAxisMM, c.ShortAxisMM, c.MeanDiameterMM = m.LongAxisMM, m.ShortAxisMM, m.MeanDiameterMM
	c.VolumeMM3 = m.VolumeMM3
	c.SolidDiameterMM = m.SolidDiameterMM
	c.Spiculation = m.Spiculation
	c.Lobulation = m.Lobulation
	c.PleuraDistanceMM = m.PleuraDistanceMM
}

// duplicate reports whether the LPS point w (a candidate's segmented
// centre) lies in a lesion already kept or within 2 mm of a kept centre,
// or whether the candidate's own lesion m holds a kept centre: fragments
// of one lesion segment to overlapping bodies and are reported once.
func duplicate(w [3]float64, m *nodule.Result, kept []candidate.Candidate, meas []*nodule.Result) bool {
	return holding(w, m, kept, meas) >= 0
}

// holding returns the first kept candidate that duplicate finds for w and
// m, or −1.
func holding(w [3]float64, m *nodule.Result, kept []candidate.Candidate, meas []*nodule.Result) int {
	for k, c := range kept {
		if dist3(w, c.World) < 2 {
			return k
		}
		if km := meas[k]; km != nil && km.Contains(w) {
			return k
		}
		if m != nil && m.Contains(c.World) {
			return k
		}
	}
	return -1
}

// enclosedKept returns the first kept lesion that m, segmented at a
// lower-ranked candidate scoring score, holds whole (see encloses and
// completes), or −1.
func enclosedKept(m *nodule.Result, score float64, kept []*nodule.Result) int {
	for k, in := range kept {
		if encloses(m, in) || completes(m, score, in) {
			return k
		}
	}
	return -1
}

// completes reports whether the lesion outer, segmented at a lower-ranked
// candidate that itself scores score, is the whole of the kept lesion
// inner: it holds inner's centre, is at least twice its volume, and scores
// 0.5 or more on its own (a vessel tree that leaked into a nodule does
// not). A cluster near a large mass's edge starts a segmentation whose cap
// (sized from the cluster) cuts the mass short; a cluster nearer its
// centre measures it whole (phantom 107 of seeds 101–120: 54 × 44 mm,
// 53 mL at the first, 71 × 63 mm, 165 mL at the second; the generator's
// mass 71 × 65 mm, 183 mL).
// Not a part-solid body around a calcified lesion: that is no part-solid
// lesion with a calcified core but a granuloma with vessels (encloses).
func completes(outer *nodule.Result, score float64, inner *nodule.Result) bool {
	if outer == nil || inner == nil || score < 0.5 || inner.Type == nodule.Calcified && outer.Type == nodule.PartSolid {
		return false
	}
	return outer.VolumeMM3 >= 2*inner.VolumeMM3 && outer.Contains(inner.Centre)
}

// encloses reports whether the lesion outer, segmented at a lower-ranked
// candidate, is a part-solid lesion of which inner, kept first, is the
// solid core: a detector cluster often sits on a part-solid lesion's core
// (its points are denser and rounder than the ground glass's), whose own
// segmentation is then the core alone. Outer must be part-solid, hold
// inner's centre, and be at least twice its volume. A calcified inner is
// no part-solid lesion's core: a granuloma with a vessel at its side,
// segmented from a seed on the vessel, reads as a part-solid body of
// granuloma and vessels at a threshold halfway to the vessel's HU (so
// reseed, too, keeps a granuloma found at a cluster's blob point over a
// part-solid body at its mean when the granuloma scores higher).
func encloses(outer, inner *nodule.Result) bool {
	if outer == nil || inner == nil || inner.Type == nodule.Calcified {
		return false
	}
	return outer.Type == nodule.PartSolid && outer.VolumeMM3 >= 2*inner.VolumeMM3 && outer.Contains(inner.Centre)
}

// FinalScore is the second-stage detection score in [0,1]: a logistic
// model over six features of the candidate and of the lesion segmented at
// it, each standardised (finalModel):
//   - the first-stage score (Score);
//   - the segmented body's sphericity (vessel trees are not round);
//   - BlobRatio, how round the intensity is at the lesion's centre at its
//     own scale (a vessel's bend, end or fork 0.2–0.5, lesions 0.45–0.95;
//     for a lesion on the wall the larger of that and its mirror image's
//     in the pleura's plane: a juxtapleural nodule is a dome);
//   - the logarithms of the cluster's equivalent diameter and of the
//     segmented lesion's Lung-RADS mean diameter (mm);
//   - WallContact, the share of the body's surface facing the chest wall,
//     mediastinum or diaphragm. A juxtapleural nodule's body is cut by the
//     wall: it is less spherical than a free nodule's of the same size,
//     and before this term and the mirror a 5 mm one scored like a vessel
//     fork (phantom 101: 0.013, rank 40; 0.50 now).
//
// A candidate where nothing could be segmented has sphericity, BlobRatio
// and WallContact 0 and a 0.5 mm mean diameter; a body under wallMinMM
// has WallContact 0 (a voxel or two against the wall faces it on half its
// faces whatever it is: on a 2 mm grid such bodies scored up to 0.98
// before this rule; a single voxel is no lesion at all since). The model was fitted on the
// 2,301 second-stage candidates (99 of them lesions of 3 mm or more, the
// LUNA16 rule; TestDumpStage2 segments 100 per scan, and the fine peaks)
// of phantom seeds 1–20, and checked on seeds 101–120 (never used), the
// independently made seeds 201–210 (one of whose nodules chose where the
// mirrored roundness is read), the fresh seeds 401–420, LIDC-IDRI-0001 and Lung-PET-CT-Dx
// A0002; TestPhantomHeldOut scores the held-out seeds. The cluster's mean
// shape index, a feature of the earlier model, is left out: it is already
// in the first-stage score, and beside it its fitted weight turned
// negative. It ranks candidates; its value is not a probability on
// patients, whose prevalence differs.
func FinalScore(f Features) float64 {
	sph, blob, meanD, wall := 0.0, 0.0, 0.5, 0.0
	if f.Segmented {
		sph, blob, meanD = f.Sphericity, f.BlobRatio, math.Max(f.MeanDiamMM, 0.5)
		if f.MeanDiamMM >= wallMinMM {
			wall = f.WallContact
		}
	}
	x := [6]float64{f.Stage1, sph, blob, math.Log(math.Max(f.ClusterDiamMM, 0.5)), math.Log(meanD), wall}
	z := finalModel.intercept
	for i, v := range x {
		z += finalModel.coef[i] * (v - finalModel.mean[i]) / finalModel.scale[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// wallMinMM is the least mean diameter (mm) of a body whose wall contact
// FinalScore weighs: LUNA16's smallest nodule.
const wallMinMM = 3

// finalModel holds FinalScore's logistic regression (scikit-learn 1.2
// LogisticRegression, L2, C = 1, on features standardised by their mean
// and standard deviation over the training candidates): stage-1 score,
// sphericity, BlobRatio, ln cluster diameter (mm), ln mean diameter (mm),
// wall contact. scripts/fit-final-score.py refits it.
var finalModel = struct {
	mean, scale, coef [6]float64
	intercept         float64
}{
	mean:      [6]float64{0.47775, 0.717626, 0.186669, 2.02773, 2.01186, 0.0444958},
	scale:     [6]float64{0.167177, 0.20715, 0.204863, 0.467405, 0.815287, 0.131922},
	coef:      [6]float64{1.12331, 1.63426, 2.87729, 0.940063, 0.00332571, 0.311255},
	intercept: -9.6669,
}
