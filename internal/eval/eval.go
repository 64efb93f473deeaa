// Package eval scores nodule candidates against LUNA16 ground truth with the
// rules of the official LUNA16 evaluation (noduleCADEvaluationLUNA16.py),
// reimplemented here:
//
//   - Only the evaluated scans count (seriesuids.csv, or the union of the
//     series in the candidates and annotations). Marks and annotations of
//     other series are ignored.
//   - At most MaxMarksPerScan (100) marks per scan: when a scan has more, the
//     official script takes the 101st-highest probability p and keeps only
//     the marks with probability strictly greater than p (so ties at the cut
//     may leave fewer than 100 marks). This package does the same.
//   - A mark hits a nodule when its Euclidean distance (LPS mm) to the
//     nodule centre is strictly less than the radius (diameter_mm/2). An
//     excluded mark whose diameter is negative (the official
//     annotations_excluded.csv writes −1) gets a 10 mm diameter.
//   - Every mark that hits an included nodule is used up by it (never an FP);
//     the nodule's score is the highest probability among its hits. A mark may
//     hit two included nodules and then counts for both.
//   - A mark that hits no included nodule but an excluded mark is ignored
//     (neither TP nor FP). Every other mark is a false positive.
//   - FROC: for each distinct probability threshold t (descending), the point
//     (#FP marks with p ≥ t / #scans, #nodules with score ≥ t / #nodules),
//     starting at (0, 0); missed nodules count in the denominator only. This
//     is what the official script gets from sklearn's roc_curve.
//   - Sensitivity at an FP rate is read off that curve by linear
//     interpolation with numpy.interp's rules (clamped at both ends; on a
//     vertical step the highest sensitivity at that FP rate). CPM is the mean
//     of the sensitivities at 1/8, 1/4, 1/2, 1, 2, 4 and 8 FP per scan.
//   - Bootstrap (optional): resample the scans with replacement
//     (Options.Bootstrap times), recompute the FROC curve, and report the
//     mean and the percentile bounds the official script uses
//     (sorted[floor(α/2·n)], sorted[floor((1−α/2)·n)]).
//
// Coordinates are LPS world mm, the frame of LUNA16's coordX/Y/Z.
package eval

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/lungctl/lungctl/internal/candidate"
)

// OperatingPoints are the average false-positive rates per scan at which
// LUNA16 reads sensitivity; CPM is the mean sensitivity over them.
var OperatingPoints = [7]float64{0.125, 0.25, 0.5, 1, 2, 4, 8}

// DefaultMaxMarksPerScan is the official cap on marks per scan.
const DefaultMaxMarksPerScan = 100

// ExcludedDefaultDiameterMM is the diameter in mm the official script gives
// to an annotation whose diameter is negative (the −1 rows of
// annotations_excluded.csv).
const ExcludedDefaultDiameterMM = 10.0

// ErrNoNodules is returned when the evaluated scans hold no included nodule,
// so that sensitivity is undefined.
var ErrNoNodules = errors.New("eval: no annotated nodules in the evaluated scans")

// ErrNoScans is returned when there is no scan to evaluate.
var ErrNoScans = errors.New("eval: no scans to evaluate")

// Annotation is one row of annotations.csv or annotations_excluded.csv: a
// nodule (or an excluded finding) centre in LPS world mm and its diameter in
// mm (negative in the excluded file means "unknown": 10 mm is used).
type Annotation struct {
	// SeriesUID is the scan's LUNA16 seriesuid.
	SeriesUID string `json:"seriesuid"`
	// World is the centre in LPS mm (coordX, coordY, coordZ).
	World [3]float64 `json:"world_mm"`
	// DiameterMM is the diameter in mm (negative: unknown, 10 mm used).
	DiameterMM float64 `json:"diameter_mm"`
}

// Options control Evaluate.
type Options struct {
	// Name labels the system in JSON and plots (e.g. the CSV base name).
	Name string
	// MaxMarksPerScan caps the marks per scan as the official script does;
	// 0 means DefaultMaxMarksPerScan (100), negative means no cap.
	MaxMarksPerScan int
	// Bootstrap is the number of bootstrap resamplings of the scans; 0
	// disables bootstrapping (the official script uses 1000).
	Bootstrap int
	// Confidence is the two-sided confidence level of the bootstrap bounds;
	// 0 means 0.95.
	Confidence float64
	// Seed makes the bootstrap reproducible.
	Seed int64
	// OperatingAt, when > 0, is a probability at which Result.Operating
	// reports the sensitivity and the FP rate (marks with probability ≥
	// it count): e.g. lungctl's report threshold.
	OperatingAt float64

	// The fields below are read by EvaluateFiles only.

	// MinDiameterMM is the size rule: annotations whose diameter_mm is
	// below it (mm) count as excluded findings (marks on them are neither
	// hits nor false positives). nil means the default: LUNA16's 3 mm
	// (DefaultMinDiameterMM) for a phantom truth table (one with a kind
	// column), no rule for other tables (LUNA16's annotations.csv holds
	// only nodules ≥ 3 mm already). A value ≤ 0 means no rule.
	MinDiameterMM *float64
	// ByKind and BySize add the per-kind FROC (the table needs a kind
	// column: ErrNoKind otherwise) and the per-size-band FROC.
	ByKind, BySize bool
}

// ErrNoKind is returned when a per-kind analysis is asked of an annotations
// table without a kind column.
var ErrNoKind = errors.New("eval: the annotations have no kind column (a phantom truth.csv has one)")

// Point is one vertex of the FROC curve.
type Point struct {
	// FPPerScan is the average number of false-positive marks per scan.
	FPPerScan float64 `json:"fp_per_scan"`
	// Sensitivity is the fraction of included nodules detected, in [0,1].
	Sensitivity float64 `json:"sensitivity"`
	// Threshold is the probability threshold (marks with p ≥ Threshold
	// count); the first point uses the highest probability + 1.
	Threshold float64 `json:"threshold"`
}

// NoduleResult says whether one included nodule was found.
type NoduleResult struct {
	// SeriesUID, World (LPS mm) and DiameterMM (mm) repeat the annotation.
	SeriesUID  string     `json:"seriesuid"`
	World      [3]float64 `json:"world_mm"`
	DiameterMM float64    `json:"diameter_mm"`
	// Detected is true when at least one kept mark hit the nodule.
	Detected bool `json:"detected"`
	// Hits is the number of kept marks within the nodule's radius.
	Hits int `json:"hits"`
	// Probability is the highest probability among the hits (0 if missed).
	Probability float64 `json:"probability"`
	// Candidate is the index, in the candidate slice given to Evaluate, of
	// the hit with the highest probability (the first such one), or −1.
	Candidate int `json:"candidate"`
	// DistanceMM is the distance in mm from that hit to the nodule centre
	// (0 if missed).
	DistanceMM float64 `json:"distance_mm"`
}

// Result is the outcome of one evaluation.
type Result struct {
	Name string `json:"name"`
	// Scans is the number of evaluated scans (the FP-rate denominator).
	Scans int `json:"scans"`
	// Nodules is the number of included nodules in the evaluated scans.
	Nodules int `json:"nodules"`
	// Detected is the number of nodules hit by at least one kept mark.
	Detected int `json:"detected"`
	// Sensitivity is Detected/Nodules (at the lowest threshold).
	Sensitivity float64 `json:"sensitivity"`
	// Marks is the number of marks kept for the evaluated scans (after the
	// per-scan cap).
	Marks int `json:"marks"`
	// MarksCapped is the number of marks dropped by the per-scan cap.
	MarksCapped int `json:"marks_capped"`
	// MarksOtherScans is the number of marks on series not evaluated.
	MarksOtherScans int `json:"marks_other_scans"`
	// TruePositiveMarks is the number of kept marks that hit an included
	// nodule.
	TruePositiveMarks int `json:"true_positive_marks"`
	// DuplicateHits is Σ over nodules of (hits − 1): the extra marks on
	// already-hit nodules, which count neither as TP nor FP.
	DuplicateHits int `json:"duplicate_hits"`
	// IgnoredMarks is the number of marks that hit only excluded findings.
	IgnoredMarks int `json:"ignored_marks"`
	// FalsePositives is the number of marks that hit nothing.
	FalsePositives int `json:"false_positives"`
	// FPPerScan is FalsePositives/Scans, the right end of the curve.
	FPPerScan float64 `json:"fp_per_scan"`
	// OperatingPoints are the FP/scan rates of SensitivityAt.
	OperatingPoints [7]float64 `json:"operating_points"`
	// SensitivityAt is the interpolated sensitivity at OperatingPoints.
	SensitivityAt [7]float64 `json:"sensitivity_at"`
	// CPM is the mean of SensitivityAt (the LUNA16 competition score).
	CPM float64 `json:"cpm"`
	// Curve is the FROC curve, FP rate non-decreasing.
	Curve []Point `json:"curve"`
	// PerNodule lists every included nodule with its hit, in annotation
	// order.
	PerNodule []NoduleResult `json:"per_nodule"`
	// Bootstrap holds the confidence bands when Options.Bootstrap > 0.
	Bootstrap *BootstrapResult `json:"bootstrap,omitempty"`
	// Operating is the curve's point at Options.OperatingAt (its
	// Threshold is that probability); nil when not asked for.
	Operating *Point `json:"operating,omitempty"`

	// The sections below are filled by EvaluateFiles on request (see
	// Options) and are absent from the JSON otherwise, so LUNA16 results
	// read as before.

	// AnnotationRule states which annotations counted, when a size rule
	// was applied (phantom truth tables, or Options.MinDiameterMM set).
	AnnotationRule string `json:"annotation_rule,omitempty"`
	// MinDiameterMM is that rule's threshold (mm): annotations smaller
	// than it were excluded findings; ExcludedBelowMin counts them.
	MinDiameterMM    float64 `json:"min_diameter_mm,omitempty"`
	ExcludedBelowMin int     `json:"excluded_below_min,omitempty"`
	// ByKind and BySize are the per-kind and per-size-band FROC (see
	// Result.Subgroup for the rule).
	ByKind []Group `json:"by_kind,omitempty"`
	BySize []Group `json:"by_size,omitempty"`
	// Measurement compares the detected nodules' measurements with the
	// phantom truth (see Agreement).
	Measurement *Agreement `json:"measurement,omitempty"`
	// Notes says what was asked for but could not be done, and why.
	Notes []string `json:"notes,omitempty"`

	entries []entry // the FROC samples, by descending probability
	fpMarks []int   // candidate index of each false-positive mark
}

// entry is one sample of the FROC analysis: a detected nodule (tp, with its
// best mark's probability) or a false-positive mark.
type entry struct {
	prob float64
	tp   bool
	scan int32
}

// Evaluate scores cands against the included annotations and the excluded
// findings over the scans listed in scans (nil or empty: the sorted union of
// the series in cands and annotations). Candidate positions and
// probabilities are read from World and Probability.
func Evaluate(annotations, excluded []Annotation, scans []string, cands []candidate.Candidate, opt Options) (*Result, error) {
	scans, scanIdx := scanList(scans, annotations, cands)
	if len(scans) == 0 {
		return nil, ErrNoScans
	}
	maxMarks := opt.MaxMarksPerScan
	if maxMarks == 0 {
		maxMarks = DefaultMaxMarksPerScan
	}
	sc := &scoring{
		annotations: annotations, excluded: excluded, cands: cands,
		res:     &Result{Name: opt.Name, Scans: len(scans), OperatingPoints: OperatingPoints},
		lesions: make([]int, len(scans)),
	}
	marksBy, nodBy, exclBy, err := sc.groupByScan(scanIdx)
	if err != nil {
		return nil, err
	}
	var probs []float64
	for s := range scans {
		var marks []int
		marks, probs = sc.capMarks(marksBy[s], maxMarks, probs)
		used := sc.matchNodules(s, marks, nodBy[s])
		sc.countFalsePositives(s, marks, used, exclBy[s])
	}
	res := sc.res
	sortByAnnotation(res.PerNodule, sc.order)
	if res.Nodules == 0 {
		return res, ErrNoNodules
	}
	res.Sensitivity = float64(res.Detected) / float64(res.Nodules)
	res.FPPerScan = float64(res.FalsePositives) / float64(res.Scans)
	entries := sc.entries
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].prob > entries[j].prob })
	res.entries = entries
	res.Curve = froc(entries, nil, float64(res.Nodules), float64(res.Scans), nil)
	res.SensitivityAt, res.CPM = cpm(res.Curve)
	if opt.OperatingAt > 0 {
		op := operating(res.Curve, opt.OperatingAt)
		res.Operating = &op
	}
	if opt.Bootstrap > 0 {
		res.Bootstrap = bootstrap(entries, sc.lesions, opt)
	}
	return res, nil
}

// scanList returns the scans to score, first occurrence kept, and each
// one's index; with none given, the sorted union of the series in cands
// and annotations.
func scanList(scans []string, annotations []Annotation, cands []candidate.Candidate) ([]string, map[string]int) {
	if len(scans) == 0 {
		seen := map[string]bool{}
		for _, c := range cands {
			seen[c.SeriesUID] = true
		}
		for _, a := range annotations {
			seen[a.SeriesUID] = true
		}
		for s := range seen {
			scans = append(scans, s)
		}
		sort.Strings(scans)
	}
	scanIdx := make(map[string]int, len(scans))
	var uniq []string
	for _, s := range scans {
		if _, dup := scanIdx[s]; !dup {
			scanIdx[s] = len(uniq)
			uniq = append(uniq, s)
		}
	}
	return uniq, scanIdx
}

// scoring is Evaluate's state while it walks the scans.
type scoring struct {
	annotations, excluded []Annotation
	cands                 []candidate.Candidate
	res                   *Result
	lesions               []int   // included nodules per scan
	order                 []int   // annotation index of each PerNodule entry
	entries               []entry // FROC entries: hit nodules and false positives
}

// groupByScan lists, per scan, the indices of its marks, included nodules
// and excluded findings; marks of other scans are only counted. A
// non-finite probability is an error.
func (sc *scoring) groupByScan(scanIdx map[string]int) (marksBy, nodBy, exclBy [][]int, err error) {
	n := len(scanIdx)
	marksBy = make([][]int, n)
	for i, c := range sc.cands {
		if math.IsNaN(c.Probability) || math.IsInf(c.Probability, 0) {
			return nil, nil, nil, fmt.Errorf("eval: candidate %d (%s): probability %v is not finite", i, c.SeriesUID, c.Probability)
		}
		s, ok := scanIdx[c.SeriesUID]
		if !ok {
			sc.res.MarksOtherScans++
			continue
		}
		marksBy[s] = append(marksBy[s], i)
	}
	nodBy = make([][]int, n)
	for i, a := range sc.annotations {
		if s, ok := scanIdx[a.SeriesUID]; ok {
			nodBy[s] = append(nodBy[s], i)
		}
	}
	exclBy = make([][]int, n)
	for i, a := range sc.excluded {
		if s, ok := scanIdx[a.SeriesUID]; ok {
			exclBy[s] = append(exclBy[s], i)
		}
	}
	return marksBy, nodBy, exclBy, nil
}

// capMarks applies the per-scan cap the official way: keep p > the
// (max+1)-th highest p. probs is scratch, returned for reuse.
func (sc *scoring) capMarks(marks []int, maxMarks int, probs []float64) (kept []int, _ []float64) {
	if maxMarks > 0 && len(marks) > maxMarks {
		probs = probs[:0]
		for _, m := range marks {
			probs = append(probs, sc.cands[m].Probability)
		}
		slices.SortFunc(probs, func(a, b float64) int { return cmp.Compare(b, a) })
		thr := probs[maxMarks]
		kept = marks[:0:0]
		for _, m := range marks {
			if sc.cands[m].Probability > thr {
				kept = append(kept, m)
			}
		}
		sc.res.MarksCapped += len(marks) - len(kept)
		marks = kept
	}
	sc.res.Marks += len(marks)
	return marks, probs
}

// matchNodules scores scan s's included nodules against its marks: a
// nodule is hit by the marks inside its radius, the most probable one
// counts. It returns which marks hit a nodule.
func (sc *scoring) matchNodules(s int, marks, nodules []int) (used []bool) {
	res := sc.res
	used = make([]bool, len(marks))
	for _, n := range nodules {
		a := sc.annotations[n]
		r2 := radius2(a.DiameterMM)
		nr := NoduleResult{SeriesUID: a.SeriesUID, World: a.World, DiameterMM: a.DiameterMM, Candidate: -1}
		best := math.Inf(-1)
		for k, m := range marks {
			d2 := dist2(a.World, sc.cands[m].World)
			if d2 < r2 {
				used[k] = true
				nr.Hits++
				if p := sc.cands[m].Probability; p > best {
					best = p
					nr.Candidate = m
					nr.DistanceMM = math.Sqrt(d2)
				}
			}
		}
		sc.lesions[s]++
		res.Nodules++
		if nr.Hits > 0 {
			nr.Detected = true
			nr.Probability = best
			res.Detected++
			res.DuplicateHits += nr.Hits - 1
			sc.entries = append(sc.entries, entry{prob: best, tp: true, scan: int32(s)})
		}
		res.PerNodule = append(res.PerNodule, nr)
		sc.order = append(sc.order, n)
	}
	return used
}

// countFalsePositives sorts scan s's marks that hit no included nodule into
// ignored (inside an excluded finding) and false positives.
func (sc *scoring) countFalsePositives(s int, marks []int, used []bool, excl []int) {
	res := sc.res
	for k, m := range marks {
		if used[k] {
			res.TruePositiveMarks++
			continue
		}
		ignored := false
		for _, e := range excl {
			if dist2(sc.excluded[e].World, sc.cands[m].World) < radius2(sc.excluded[e].DiameterMM) {
				ignored = true
				break
			}
		}
		if ignored {
			res.IgnoredMarks++
			continue
		}
		res.FalsePositives++
		res.fpMarks = append(res.fpMarks, m)
		sc.entries = append(sc.entries, entry{prob: sc.cands[m].Probability, scan: int32(s)})
	}
}

// sortByAnnotation puts the per-nodule results (gathered scan by scan) in
// annotation order; order[i] is result i's annotation index.
func sortByAnnotation(rs []NoduleResult, order []int) {
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return order[idx[a]] < order[idx[b]] })
	sorted := make([]NoduleResult, len(rs))
	for i, k := range idx {
		sorted[i] = rs[k]
	}
	copy(rs, sorted)
}

func radius2(diameter float64) float64 {
	if diameter < 0 {
		diameter = ExcludedDefaultDiameterMM
	}
	return diameter * diameter / 4
}

func dist2(a, b [3]float64) float64 {
	dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return dx*dx + dy*dy + dz*dz
}

// froc builds the FROC curve from entries sorted by descending probability.
// weight[scan] multiplies each entry of that scan (nil: all 1, used by the
// bootstrap). totalLesions and nScans are the denominators. dst follows the
// buffer-reuse rule (package volume).
func froc(entries []entry, weight []int32, totalLesions, nScans float64, dst []Point) []Point {
	top := 1.0
	if len(entries) > 0 {
		top = entries[0].prob + 1
	}
	dst = append(dst[:0], Point{0, 0, top})
	var tp, fp float64
	for i := 0; i < len(entries); {
		p := entries[i].prob
		changed := false
		for ; i < len(entries) && entries[i].prob == p; i++ {
			w := 1.0
			if weight != nil {
				w = float64(weight[entries[i].scan])
				if w == 0 {
					continue
				}
			}
			changed = true
			if entries[i].tp {
				tp += w
			} else {
				fp += w
			}
		}
		if changed {
			dst = append(dst, Point{FPPerScan: fp / nScans, Sensitivity: tp / totalLesions, Threshold: p})
		}
	}
	return dst
}

// Interp returns the sensitivity of curve at fpRate (FP per scan) with
// numpy.interp's rules: the first/last sensitivity outside the curve's
// range, the highest sensitivity among points at exactly fpRate, linear in
// between.
func Interp(curve []Point, fpRate float64) float64 {
	n := len(curve)
	if n == 0 {
		return 0
	}
	if fpRate < curve[0].FPPerScan {
		return curve[0].Sensitivity
	}
	if fpRate > curve[n-1].FPPerScan {
		return curve[n-1].Sensitivity
	}
	// j = last index with FPPerScan <= fpRate.
	j := sort.Search(n, func(i int) bool { return curve[i].FPPerScan > fpRate }) - 1
	if j == n-1 || curve[j].FPPerScan == fpRate {
		return curve[j].Sensitivity
	}
	a, b := curve[j], curve[j+1]
	return a.Sensitivity + (b.Sensitivity-a.Sensitivity)*(fpRate-a.FPPerScan)/(b.FPPerScan-a.FPPerScan)
}

func cpm(curve []Point) (at [7]float64, mean float64) {
	for i, x := range OperatingPoints {
		at[i] = Interp(curve, x)
		mean += at[i]
	}
	return at, mean / 7
}

// operating returns the point of curve (thresholds descending) where the
// marks with probability ≥ t count: the last point whose threshold is at
// least t, with Threshold set to t (the curve's first point, nothing
// counted, when every mark is below t).
func operating(curve []Point, t float64) Point {
	op := Point{Threshold: t}
	for _, p := range curve {
		if p.Threshold < t {
			break
		}
		op.FPPerScan, op.Sensitivity = p.FPPerScan, p.Sensitivity
	}
	return op
}
