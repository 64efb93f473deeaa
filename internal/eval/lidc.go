package eval

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/lidc"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// LIDC reader truth. EvaluateLIDC scores one scan's candidates against the
// LIDC-IDRI readers' marks, analysed by internal/lidc:
//
//   - Truth nodules are the physical nodules ≥ 3 mm (readers' contoured
//     nodules grouped as pylidc does, however many readers marked them),
//     each placed at its 50 % consensus centroid (LPS mm) with the
//     consensus' equivalent diameter (the sphere of the consensus volume;
//     the readers' mean pylidc diameter when the consensus is empty).
//   - Hits follow LUNA16 (Evaluate): a mark hits a nodule when its distance
//     to the centroid is below half that diameter; the nodule's hit is the
//     mark with the highest probability among its hits; the readers' marks
//     of nodules < 3 mm and non-nodules are excluded findings of unknown
//     size (10 mm, as LUNA16's annotations_excluded.csv): marks on them are
//     neither hits nor false positives; at most 100 marks per scan.
//   - Diameter error: the hit's mean axial diameter (long_axis_mm +
//     short_axis_mm)/2 minus the consensus' equivalent diameter, and minus
//     the readers' mean pylidc diameter (mm, and relative to the truth).
//     Volume error: volume_mm3 minus the consensus volume (mm³, relative).
//   - Type agreement: the hit's type against the LIDC texture class of the
//     readers' median texture rating (1–2 non-solid, 3–4 part-solid, 5
//     solid; lidc.TextureOf); a calcified hit counts as solid; undefined
//     when no reader rated texture or the hit has no type.
//   - Dice with a label map (uint8 labels, value = the candidate's rank,
//     typically on the 1 mm grid): counted on the source CT grid. A
//     consensus voxel is in ours when its centre (LPS mm) falls in a label
//     voxel (nearest voxel centre) holding the rank; our size in source
//     voxels is our label's voxel count × its voxel volume ÷ the source
//     voxel volume; Dice = 2·|both| / (|ours| + |consensus|).
//   - Ranks: within the scan, the candidates ordered by descending
//     probability (ties in file order), 1-based (Ranks).
//   - Malignancy AUC over the detected nodules: the hit's malignancy, brock
//     and cnn columns against the readers' median malignancy rating ≥ 3
//     (malignant) versus < 3 (LIDCOptions.MalignantFrom changes the 3).

// LIDCSeries is a DICOM series and its readers' XML, analysed.
type LIDCSeries struct {
	// Dir is the folder given; UID the series' SeriesInstanceUID; XML the
	// readers' XML file used.
	Dir, UID, XML string
	// Sessions is the number of reading sessions in the XML.
	Sessions int
	// Geometry places the XML on the series (its Grid and slice
	// positions, LPS mm).
	Geometry lidc.Geometry
	// Analysis holds the readers' nodules, consensus and marks.
	Analysis *lidc.Result
	// Warnings are the loader's and the XML analysis' warnings.
	Warnings []string
}

// LoadLIDC loads the CT series under dir (the axial CT series with most
// slices, as dicomio.Load picks it), finds its readers' XML beside it
// (lidc.FindXML in dir, else in the folder of the series' files) and
// analyses it with lidc.Analyze's defaults.
func LoadLIDC(dir string) (*LIDCSeries, error) {
	sc, err := dicomio.Load(dir, dicomio.Options{})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	s := &LIDCSeries{Dir: dir, UID: sc.Info.UID, Geometry: lidc.Geometry{Grid: sc.HU.Grid, Positions: sc.Positions}}
	s.Warnings = append(s.Warnings, warn.Strings(sc.Warnings)...)
	s.XML, err = lidc.FindXML(dir, sc.Info.UID)
	if errors.Is(err, lidc.ErrNoXML) && len(sc.Info.Files) > 0 {
		if d := filepath.Dir(sc.Info.Files[0]); filepath.Clean(d) != filepath.Clean(dir) {
			s.XML, err = lidc.FindXML(d, sc.Info.UID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	msg, err := lidc.ParseFile(s.XML)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	s.Sessions = len(msg.Sessions)
	if s.Analysis, err = lidc.Analyze(msg, s.Geometry, lidc.Options{}); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	s.Warnings = append(s.Warnings, s.Analysis.Warnings...)
	return s, nil
}

// LIDCOptions control EvaluateLIDC.
type LIDCOptions struct {
	// Name labels the system (e.g. the candidates file's base name).
	Name string
	// MalignantFrom is the readers' median malignancy rating from which a
	// nodule counts as malignant for the AUC; 0 means 3.
	MalignantFrom float64
	// MaxMarksPerScan is Options.MaxMarksPerScan (0: LUNA16's 100).
	MaxMarksPerScan int
	// LabelsFile names the label map, for the record only.
	LabelsFile string
	// SpiculatedFrom is the readers' median spiculation rating (1 none …
	// 5 marked) from which a nodule counts as spiculated; 0 means 3.
	// SpiculatedAt is the spiculation score from which a hit counts as
	// spiculated; 0 means nodule.SpiculatedAt, the pipeline's flag.
	SpiculatedFrom, SpiculatedAt float64
}

// LIDCNodule is one physical nodule ≥ 3 mm and what hit it. Positions are
// LPS mm, lengths mm, volumes mm³; NaN (null) when undefined.
type LIDCNodule struct {
	// Index is the 1-based nodule number (lidc.Result.Nodules order).
	Index int `json:"index"`
	// Readers is the number of reading sessions that marked it.
	Readers int `json:"readers"`
	// Centroid, EquivDiameterMM, VolumeMM3 and Voxels describe the 50 %
	// consensus; ReadersDiameterMM is the readers' mean pylidc diameter.
	Centroid          [3]float64 `json:"centroid_mm"`
	EquivDiameterMM   float64    `json:"equiv_diameter_mm"`
	VolumeMM3         float64    `json:"volume_mm3"`
	Voxels            int        `json:"voxels"`
	ReadersDiameterMM float64    `json:"readers_diameter_mm"`
	// Texture is the class of the median texture rating; Calcified the
	// readers' majority; MedianMalignancy their median rating; Malignant
	// is MedianMalignancy ≥ LIDCOptions.MalignantFrom.
	Texture          string `json:"texture"`
	Calcified        bool   `json:"calcified"`
	MedianMalignancy Float  `json:"median_malignancy"`
	Malignant        bool   `json:"malignant"`
	// MedianSpiculation is the readers' median spiculation rating.
	MedianSpiculation Float `json:"median_spiculation"`

	// Detected, Hits, Candidate (index in the candidates file, −1 when
	// missed), Rank, Probability and DistanceMM describe the hit.
	Detected    bool    `json:"detected"`
	Hits        int     `json:"hits"`
	Candidate   int     `json:"candidate"`
	Rank        int     `json:"rank,omitempty"`
	Probability float64 `json:"probability"`
	DistanceMM  float64 `json:"distance_mm"`
	// Type and MeanDiameterMM ((long+short)/2) and VolumeMM3 are the hit's.
	Type               string `json:"type,omitempty"`
	HitMeanDiameterMM  Float  `json:"hit_mean_diameter_mm"`
	HitVolumeMM3       Float  `json:"hit_volume_mm3"`
	DiameterErrEquivMM Float  `json:"diameter_error_vs_equiv_mm"`
	DiameterRelEquiv   Float  `json:"diameter_rel_error_vs_equiv"`
	DiameterErrReadMM  Float  `json:"diameter_error_vs_readers_mm"`
	DiameterRelRead    Float  `json:"diameter_rel_error_vs_readers"`
	VolumeErrMM3       Float  `json:"volume_error_mm3"`
	VolumeRel          Float  `json:"volume_rel_error"`
	// TypeAgrees is null when it cannot be compared.
	TypeAgrees *bool `json:"type_agrees"`
	// HitSpiculation is the hit's spiculation score; SpiculationAgrees
	// whether it and the readers' median rating both say spiculated or
	// both not (LIDCOptions' thresholds), null when either is missing.
	HitSpiculation    Float `json:"hit_spiculation"`
	SpiculationAgrees *bool `json:"spiculation_agrees"`
	// Dice, with the label map: DiceBoth consensus voxels in our label,
	// DiceOurs our label's size in source voxels.
	Dice     Float `json:"dice"`
	DiceBoth int   `json:"dice_both_voxels,omitempty"`
	DiceOurs Float `json:"dice_ours_voxels"`
}

// LIDCResult is EvaluateLIDC's report.
type LIDCResult struct {
	Name      string `json:"name"`
	SeriesUID string `json:"seriesuid"`
	Dir       string `json:"dir"`
	XML       string `json:"xml"`
	Labels    string `json:"labels,omitempty"`
	Sessions  int    `json:"reading_sessions"`
	// Candidates is the number of candidates scored (this series');
	// CandidatesOther those of other series, ignored.
	Candidates      int `json:"candidates"`
	CandidatesOther int `json:"candidates_other_series"`
	// Nodules are the physical nodules ≥ 3 mm; Small and NonNodules count
	// the readers' marks used as excluded findings.
	Nodules    []LIDCNodule `json:"nodules"`
	Small      int          `json:"small_nodule_marks"`
	NonNodules int          `json:"non_nodule_marks"`
	Detected   int          `json:"detected"`
	// FalsePositives and IgnoredMarks are Evaluate's counts.
	FalsePositives int `json:"false_positives"`
	IgnoredMarks   int `json:"ignored_marks"`
	// Diameter and volume errors over the detected nodules with
	// measurements (absolute relative errors).
	DiameterVsEquiv   ErrorStats `json:"diameter_vs_equiv"`
	DiameterVsReaders ErrorStats `json:"diameter_vs_readers"`
	Volume            ErrorStats `json:"volume"`
	// TypeCompared nodules had both types; TypeAgree of them agreed.
	TypeCompared int `json:"type_compared"`
	TypeAgree    int `json:"type_agree"`
	// SpiculationCompared nodules had both a rating and a score;
	// SpiculationAgree of them agreed (spiculated from SpiculatedFrom,
	// flagged from SpiculatedAt); SpiculationAUC is the score's AUC for
	// the readers' spiculated against not, over the detected nodules.
	SpiculatedFrom      float64 `json:"spiculated_median_at_least"`
	SpiculatedAt        float64 `json:"spiculation_flag_at"`
	SpiculationCompared int     `json:"spiculation_compared"`
	SpiculationAgree    int     `json:"spiculation_agree"`
	SpiculationAUC      AUC     `json:"spiculation_auc"`
	// MeanDice over the detected nodules, with a label map.
	MeanDice Float `json:"mean_dice"`
	// MalignantFrom is the median rating from which a nodule is malignant.
	MalignantFrom float64 `json:"malignant_median_at_least"`
	MalignancyAUC []AUC   `json:"malignancy_auc"`
	// FROC is the LUNA16 evaluation of this one scan (nil without nodules).
	FROC     *Result  `json:"froc,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Ranks returns each candidate's 1-based rank within its series: by
// descending probability, ties in slice order (the label-map value).
func Ranks(cs []candidate.Candidate) []int {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return cs[idx[a]].Probability > cs[idx[b]].Probability })
	rank := make([]int, len(cs))
	seen := map[string]int{}
	for _, i := range idx {
		seen[cs[i].SeriesUID]++
		rank[i] = seen[cs[i].SeriesUID]
	}
	return rank
}

// EvaluateLIDC scores cands against the readers' truth of s (see the rules
// above). Candidates of other series are ignored, except that when none is
// of s's series and they all name one other series (a file detected from a
// converted volume, named after the file) they are used, with a note.
// labels, when not nil, is the label map for the Dice.
func EvaluateLIDC(s *LIDCSeries, cands []candidate.Candidate, labels *volume.Volume[uint8], opt LIDCOptions) (*LIDCResult, error) {
	if s == nil || s.Analysis == nil {
		return nil, errors.New("eval: no LIDC analysis")
	}
	if labels != nil {
		if err := labels.Check(); err != nil {
			return nil, fmt.Errorf("eval: label map %s: %w", opt.LabelsFile, err)
		}
	}
	from, spicFrom, spicAt := opt.thresholds()
	res := &LIDCResult{Name: opt.Name, SeriesUID: s.UID, Dir: s.Dir, XML: s.XML, Labels: opt.LabelsFile,
		Sessions: s.Sessions, Small: len(s.Analysis.Small), NonNodules: len(s.Analysis.NonNodules),
		MalignantFrom: from, SpiculatedFrom: spicFrom, SpiculatedAt: spicAt, MeanDice: nan, Warnings: s.Warnings}
	sel, idx := selectSeries(s.UID, cands, res)
	rank := Ranks(sel)

	var ann, exc []Annotation
	for _, nd := range s.Analysis.Nodules {
		d := nd.EquivDiameterMM
		if nd.Voxels == 0 {
			d = nd.MeanDiameterMM
		}
		ann = append(ann, Annotation{SeriesUID: s.UID, World: nd.Centroid, DiameterMM: d})
	}
	for _, set := range [][]lidc.Mark{s.Analysis.Small, s.Analysis.NonNodules} {
		for _, m := range set {
			exc = append(exc, Annotation{SeriesUID: s.UID, World: m.Position, DiameterMM: -1})
		}
	}
	r, err := Evaluate(ann, exc, []string{s.UID}, sel, Options{Name: opt.Name, MaxMarksPerScan: opt.MaxMarksPerScan})
	switch {
	case errors.Is(err, ErrNoNodules):
		res.Notes = append(res.Notes, "the readers marked no nodule ≥ 3 mm on this series")
	case err != nil:
		return nil, err
	default:
		res.FROC = r
	}
	if r != nil {
		res.FalsePositives, res.IgnoredMarks = r.FalsePositives, r.IgnoredMarks
	}

	var dEq, dRd, vol, dice []float64
	var scores [3][]float64
	var malignant []bool
	var spicScores []float64
	var spiculated []bool
	for i, nd := range s.Analysis.Nodules {
		ln := lidcNodule(i, nd, from)
		nr := r.PerNodule[i]
		if nr.Detected {
			c := sel[nr.Candidate]
			ln.Detected, ln.Hits, ln.Candidate, ln.Rank = true, nr.Hits, idx[nr.Candidate], rank[nr.Candidate]
			ln.Probability, ln.DistanceMM = nr.Probability, nr.DistanceMM
			res.Detected++
			measureHit(&ln, c, nd)
			if spiculationAgreement(&ln, spicFrom, spicAt) {
				res.SpiculationCompared++
				if *ln.SpiculationAgrees {
					res.SpiculationAgree++
				}
				spicScores = append(spicScores, c.Spiculation)
				spiculated = append(spiculated, float64(ln.MedianSpiculation) >= spicFrom)
			}
			dEq, dRd, vol = appendAbs(dEq, ln.DiameterRelEquiv), appendAbs(dRd, ln.DiameterRelRead), appendAbs(vol, ln.VolumeRel)
			if ln.TypeAgrees != nil {
				res.TypeCompared++
				if *ln.TypeAgrees {
					res.TypeAgree++
				}
			}
			if labels != nil {
				if ln.Rank > 255 {
					res.Notes = append(res.Notes, fmt.Sprintf("nodule %d: its hit has rank %d; a uint8 label map holds ranks 1–255 only (Dice 0)", ln.Index, ln.Rank))
				}
				diceOf(&ln, nd, s.Geometry, labels)
				dice = append(dice, float64(ln.Dice))
			}
			if !math.IsNaN(float64(ln.MedianMalignancy)) {
				malignant = append(malignant, ln.Malignant)
				for k, v := range []float64{c.Malignancy, c.Brock, c.CNN} {
					scores[k] = append(scores[k], v)
				}
			}
		}
		res.Nodules = append(res.Nodules, ln)
	}
	res.DiameterVsEquiv, res.DiameterVsReaders, res.Volume = errorStats(dEq), errorStats(dRd), errorStats(vol)
	if len(dice) > 0 {
		var sum float64
		for _, d := range dice {
			sum += d
		}
		res.MeanDice = Float(sum / float64(len(dice)))
	}
	for k, col := range []string{"malignancy", "brock", "cnn"} {
		res.MalignancyAUC = append(res.MalignancyAUC, aucOf(col, scores[k], malignant))
	}
	res.SpiculationAUC = aucOf("spiculation", spicScores, spiculated)
	return res, nil
}

// appendAbs appends |x| to dst unless x is NaN.
func appendAbs(dst []float64, x Float) []float64 {
	if a := math.Abs(float64(x)); !math.IsNaN(a) {
		return append(dst, a)
	}
	return dst
}

// thresholds returns the options' thresholds with their defaults: the
// readers' median malignancy and spiculation ratings from which a nodule
// is malignant (3) and spiculated (3), and the score from which a hit is
// flagged spiculated (nodule.SpiculatedAt).
func (o LIDCOptions) thresholds() (malignantFrom, spiculatedFrom, spiculatedAt float64) {
	malignantFrom, spiculatedFrom, spiculatedAt = o.MalignantFrom, o.SpiculatedFrom, o.SpiculatedAt
	if malignantFrom == 0 {
		malignantFrom = 3
	}
	if spiculatedFrom == 0 {
		spiculatedFrom = 3
	}
	if spiculatedAt == 0 {
		spiculatedAt = nodule.SpiculatedAt
	}
	return malignantFrom, spiculatedFrom, spiculatedAt
}

// spiculationAgreement sets ln.SpiculationAgrees when both the readers'
// median rating and the hit's score are known, and reports whether it did.
func spiculationAgreement(ln *LIDCNodule, from, at float64) bool {
	r, sc := float64(ln.MedianSpiculation), float64(ln.HitSpiculation)
	if math.IsNaN(r) || math.IsNaN(sc) {
		return false
	}
	agree := (r >= from) == (sc >= at)
	ln.SpiculationAgrees = &agree
	return true
}

// selectSeries returns the candidates of series uid and their indices in
// cands (see EvaluateLIDC for the one-other-series fallback); it records
// the counts and the fallback note in res.
func selectSeries(uid string, cands []candidate.Candidate, res *LIDCResult) ([]candidate.Candidate, []int) {
	var sel []candidate.Candidate
	var idx []int
	others := map[string]bool{}
	for i, c := range cands {
		if c.SeriesUID == uid {
			sel, idx = append(sel, c), append(idx, i)
		} else {
			others[c.SeriesUID] = true
		}
	}
	if len(sel) == 0 && len(others) == 1 {
		for i, c := range cands {
			c.SeriesUID = uid
			sel, idx = append(sel, c), append(idx, i)
		}
		for o := range others {
			res.Notes = append(res.Notes, fmt.Sprintf("no candidate names series %s; all %d name %q and are taken to be of this series", uid, len(cands), o))
		}
	}
	res.Candidates, res.CandidatesOther = len(sel), len(cands)-len(sel)
	return sel, idx
}

// lidcNodule fills the truth side of nodule i.
func lidcNodule(i int, nd lidc.Nodule, from float64) LIDCNodule {
	ln := LIDCNodule{Index: i + 1, Readers: nd.NumReaders, Centroid: nd.Centroid, EquivDiameterMM: nd.EquivDiameterMM,
		VolumeMM3: nd.VolumeMM3, Voxels: nd.Voxels, ReadersDiameterMM: nd.MeanDiameterMM, Texture: nd.Texture.String(),
		Calcified: nd.Calcified, MedianMalignancy: Float(nd.MedianRatings[lidc.Malignancy]),
		MedianSpiculation: Float(nd.MedianRatings[lidc.Spiculation]), HitSpiculation: nan, Candidate: -1,
		HitMeanDiameterMM: nan, HitVolumeMM3: nan, DiameterErrEquivMM: nan, DiameterRelEquiv: nan, DiameterErrReadMM: nan,
		DiameterRelRead: nan, VolumeErrMM3: nan, VolumeRel: nan, Dice: nan, DiceOurs: nan}
	ln.Malignant = nd.MedianRatings[lidc.Malignancy] >= from
	return ln
}

// measureHit fills the hit's measurements and their errors.
func measureHit(ln *LIDCNodule, c candidate.Candidate, nd lidc.Nodule) {
	ln.Type = c.Type
	if c.Type == "" {
		return
	}
	ln.HitSpiculation = Float(c.Spiculation)
	md := (c.LongAxisMM + c.ShortAxisMM) / 2
	ln.HitMeanDiameterMM, ln.HitVolumeMM3 = Float(md), Float(c.VolumeMM3)
	signed := func(m, t float64) (Float, Float) {
		if math.IsNaN(m) || math.IsInf(m, 0) || !(t > 0) {
			return nan, nan
		}
		return Float(m - t), Float((m - t) / t)
	}
	ln.DiameterErrEquivMM, ln.DiameterRelEquiv = signed(md, nd.EquivDiameterMM)
	ln.DiameterErrReadMM, ln.DiameterRelRead = signed(md, nd.MeanDiameterMM)
	ln.VolumeErrMM3, ln.VolumeRel = signed(c.VolumeMM3, nd.VolumeMM3)
	if nd.Texture != lidc.TextureUnknown {
		t := c.Type
		if t == "calcified" {
			t = "solid"
		}
		agree := t == nd.Texture.String()
		ln.TypeAgrees = &agree
	}
}

// diceOf computes the Dice of the hit's label (value ln.Rank) with the
// consensus mask on the source grid (see the rules above).
func diceOf(ln *LIDCNodule, nd lidc.Nodule, g lidc.Geometry, labels *volume.Volume[uint8]) {
	ln.Dice, ln.DiceOurs = 0, 0
	if ln.Rank < 1 || ln.Rank > 255 {
		return
	}
	want := uint8(ln.Rank)
	ours := 0
	for _, v := range labels.Data {
		if v == want {
			ours++
		}
	}
	src := voxelVolume(g.Grid)
	ln.DiceOurs = Float(float64(ours) * voxelVolume(labels.Grid) / src)
	d, sp := g.Grid.Direction, g.Grid.Spacing
	var col, row volume.Vec3
	for r := 0; r < 3; r++ {
		col[r], row[r] = d[r][0]*sp[0], d[r][1]*sp[1]
	}
	inv := volume.Inverse3(labels.Direction)
	m := &nd.Mask
	both := 0
	for k := 0; k < m.Dims[2]; k++ {
		sk := m.Origin[2] + k
		base := g.Grid.IndexToWorld(volume.Vec3{0, 0, float64(sk)})
		if g.Positions != nil && sk >= 0 && sk < len(g.Positions) {
			base = g.Positions[sk]
		}
		for j := 0; j < m.Dims[1]; j++ {
			for i := 0; i < m.Dims[0]; i++ {
				if m.Data[i+m.Dims[0]*(j+m.Dims[1]*k)] == 0 {
					continue
				}
				x, y := float64(m.Origin[0]+i), float64(m.Origin[1]+j)
				var p [3]int
				for a := 0; a < 3; a++ {
					var q float64
					for r := 0; r < 3; r++ {
						w := base[r] + x*col[r] + y*row[r] - labels.Origin[r]
						q += inv[a][r] * w
					}
					p[a] = int(math.Floor(q/labels.Spacing[a] + 0.5))
				}
				if labels.In(p[0], p[1], p[2]) && labels.At(p[0], p[1], p[2]) == want {
					both++
				}
			}
		}
	}
	ln.DiceBoth = both
	if den := float64(ln.DiceOurs) + float64(nd.Voxels); den > 0 {
		ln.Dice = Float(2 * float64(both) / den)
	}
}

// voxelVolume is a grid's voxel volume in mm³.
func voxelVolume(g volume.Grid) float64 {
	d := g.Direction
	det := d[0][0]*(d[1][1]*d[2][2]-d[1][2]*d[2][1]) - d[0][1]*(d[1][0]*d[2][2]-d[1][2]*d[2][0]) +
		d[0][2]*(d[1][0]*d[2][1]-d[1][1]*d[2][0])
	return math.Abs(det) * g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
}
