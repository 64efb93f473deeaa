package eval

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lungctl/lungctl/internal/candidate"
)

// Agreement compares the measurements of the detected nodules with the
// phantom truth. Each detected nodule is represented by its best-scoring
// hit (NoduleResult.Candidate: the kept mark with the highest probability
// within its radius); a hit "has measurements" when its type column is not
// empty (detect could segment a lesion there).
type Agreement struct {
	// Detected is the number of detected nodules, Measured of them whose
	// best hit has measurements.
	Detected int `json:"detected"`
	Measured int `json:"measured"`
	// MeanDiameter is the absolute relative error of the mean axial
	// diameter: |(long+short)/2 measured − (long+short)/2 truth| / truth,
	// over measured hits with truth axes > 0.
	MeanDiameter ErrorStats `json:"mean_diameter"`
	// MeanDiameterByKind splits MeanDiameter by the truth's kind
	// (alphabetically; absent when the truth has no kinds), with the
	// median signed error too: a segmentation that runs into the chest
	// wall or stops short of a mass's base shows as a bias of one kind.
	MeanDiameterByKind []KindError `json:"mean_diameter_by_kind,omitempty"`
	// Volume is the absolute relative error of volume_mm3 (mm³) against the
	// truth's volume_mm3, over measured hits with a truth volume > 0.
	Volume ErrorStats `json:"volume"`
	// VolumeByKind splits Volume by the truth's kind as
	// MeanDiameterByKind does MeanDiameter.
	VolumeByKind []KindError `json:"volume_by_kind,omitempty"`
	// TypeAccuracy is, per kind (alphabetical) and then for "all", the
	// fraction of measured hits whose type equals the truth's type.
	TypeAccuracy []TypeAccuracy `json:"type_accuracy"`
	// TypeConfusion counts detected nodules by truth type (rows) and
	// measured type (columns; "unmeasured" for a hit without measurements).
	TypeConfusion Confusion `json:"type_confusion"`
	// Spiculation is the AUC of the spiculation column for truth
	// spiculated = 1 (positive) against 0, over measured hits.
	Spiculation AUC `json:"spiculation_auc"`
	// SpiculationVsRound is that AUC with only round lesions (truth kind
	// "round", spiculated 0) as negatives: spiculated against round, as
	// the characterisation target is stated.
	SpiculationVsRound AUC `json:"spiculation_vs_round_auc"`
	// Malignancy holds the AUC of the malignancy, brock and cnn columns
	// for truth malignancy ≥ 4 (the phantom's "malignant") against < 4,
	// over detected nodules with a truth rating; absent when the truth has
	// no malignancy column.
	Malignancy []AUC `json:"malignancy_auc,omitempty"`
	// LungRADSDetected counts the detected nodules' best hits by lung_rads
	// category ("unmeasured" when empty); LungRADSFalsePositives counts
	// the false-positive marks the same way.
	LungRADSDetected       map[string]int `json:"lung_rads_detected"`
	LungRADSFalsePositives map[string]int `json:"lung_rads_false_positives"`
	// PleuraContact compares the pleura_distance_mm column with the
	// truth's location: per location, how many measured hits read
	// TouchingMM or less (touching the pleura, mediastinum or diaphragm);
	// absent when the truth has no location column.
	PleuraContact []LocationContact `json:"pleura_contact,omitempty"`
	// PerNodule lists every detected nodule with both sides' values.
	PerNodule []MeasuredNodule `json:"per_nodule"`
}

// KindError is one kind's mean-diameter or volume error: over N measured hits, the
// median absolute relative error and the median signed one
// ((measured − truth)/truth: positive when measured too large).
type KindError struct {
	Kind   string `json:"kind"`
	N      int    `json:"n"`
	Median Float  `json:"median"`
	Bias   Float  `json:"median_signed"`
}

// errorsByKind computes MeanDiameterByKind or VolumeByKind from the per-nodule
// values that value picks (measured, truth).
func errorsByKind(ns []MeasuredNodule, value func(MeasuredNodule) (m, t Float)) []KindError {
	signed := map[string][]float64{}
	for _, n := range ns {
		mf, tf := value(n)
		m, t := float64(mf), float64(tf)
		if n.Kind == "" || math.IsNaN(relErr(m, t)) {
			continue
		}
		signed[n.Kind] = append(signed[n.Kind], (m-t)/t)
	}
	kinds := make([]string, 0, len(signed))
	for k := range signed {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []KindError
	for _, k := range kinds {
		e := signed[k]
		abs := make([]float64, len(e))
		for i, x := range e {
			abs[i] = math.Abs(x)
		}
		sort.Float64s(e)
		sort.Float64s(abs)
		out = append(out, KindError{Kind: k, N: len(e), Median: Float(Quantile(abs, 0.5)), Bias: Float(Quantile(e, 0.5))})
	}
	return out
}

// LocationContact counts one truth location's measured hits and those
// whose pleura_distance_mm is at most TouchingMM.
type LocationContact struct {
	Location string `json:"location"`
	Measured int    `json:"measured"`
	Touching int    `json:"touching"`
}

// TouchingMM is the pleura distance (mm) up to which a lesion counts as
// touching the pleura in PleuraContact: one voxel of the 1 mm grid.
const TouchingMM = 1

// TypeAccuracy is the type agreement of one kind's measured hits.
type TypeAccuracy struct {
	Kind     string `json:"kind"`
	Measured int    `json:"measured"`
	Correct  int    `json:"correct"`
	// Accuracy is Correct/Measured, NaN (null) when Measured is 0.
	Accuracy Float `json:"accuracy"`
}

// Confusion is a contingency table: Counts[r][c] nodules of truth class
// Truth[r] were measured as Measured[c].
type Confusion struct {
	Truth    []string `json:"truth"`
	Measured []string `json:"measured"`
	Counts   [][]int  `json:"counts"`
}

// MeasuredNodule is one detected nodule's truth and its best hit's
// measurements (lengths mm, volumes mm³; NaN/null when absent).
type MeasuredNodule struct {
	// Nodule indexes Result.PerNodule; Candidate indexes the candidates.
	Nodule     int    `json:"nodule"`
	Candidate  int    `json:"candidate"`
	Kind       string `json:"kind"`
	TruthType  string `json:"truth_type"`
	Type       string `json:"type"`
	TruthMeanD Float  `json:"truth_mean_diameter_mm"`
	MeanD      Float  `json:"mean_diameter_mm"`
	TruthVol   Float  `json:"truth_volume_mm3"`
	Vol        Float  `json:"volume_mm3"`
	Spiculated int    `json:"truth_spiculated"`
	Spic       Float  `json:"spiculation"`
	LungRADS   string `json:"lung_rads"`
}

// typeOrder is the display order of attenuation classes.
var typeOrder = []string{"solid", "part-solid", "non-solid", "calcified"}

const unmeasured = "unmeasured"

// measure builds the Agreement of r (rows[i] is PerNodule[i]'s truth).
func (r *Result) measure(rows []TruthRow, cands []candidate.Candidate) *Agreement {
	a := &Agreement{LungRADSDetected: map[string]int{}, LungRADSFalsePositives: map[string]int{}}
	var dErr, vErr, spScore, malTruth []float64
	var spPos []bool
	var srScore []float64 // spiculated against round
	var srPos []bool
	mal := map[string][]float64{}
	byKind := map[string]*TypeAccuracy{}
	all := &TypeAccuracy{Kind: "all"}
	conf := map[[2]string]int{}
	contact := contacts{}
	truthTypes, measTypes := map[string]bool{}, map[string]bool{}
	for i, nr := range r.PerNodule {
		if !nr.Detected {
			continue
		}
		t, c := rows[i], cands[nr.Candidate]
		a.Detected++
		mn := MeasuredNodule{Nodule: i, Candidate: nr.Candidate, Kind: t.Kind, TruthType: t.Type, Type: c.Type,
			TruthMeanD: Float((t.LongAxisMM + t.ShortAxisMM) / 2), MeanD: nan, TruthVol: Float(t.VolumeMM3), Vol: nan,
			Spiculated: t.Spiculated, Spic: nan, LungRADS: c.LungRADS}
		a.LungRADSDetected[rads(c)]++
		mt := c.Type
		if mt == "" {
			mt = unmeasured
		}
		conf[[2]string{t.Type, mt}]++
		truthTypes[t.Type], measTypes[mt] = true, true
		if t.Malignancy > 0 {
			malTruth = append(malTruth, float64(t.Malignancy))
			for _, col := range []struct {
				k string
				v float64
			}{{"malignancy", c.Malignancy}, {"brock", c.Brock}, {"cnn", c.CNN}} {
				mal[col.k] = append(mal[col.k], col.v)
			}
		}
		if c.Type == "" {
			a.PerNodule = append(a.PerNodule, mn)
			continue
		}
		a.Measured++
		mn.MeanD, mn.Vol, mn.Spic = Float((c.LongAxisMM+c.ShortAxisMM)/2), Float(c.VolumeMM3), Float(c.Spiculation)
		if e := relErr(float64(mn.MeanD), float64(mn.TruthMeanD)); !math.IsNaN(e) {
			dErr = append(dErr, e)
		}
		if e := relErr(c.VolumeMM3, t.VolumeMM3); !math.IsNaN(e) {
			vErr = append(vErr, e)
		}
		ka := byKind[t.Kind]
		if ka == nil {
			ka = &TypeAccuracy{Kind: t.Kind}
			byKind[t.Kind] = ka
		}
		for _, x := range []*TypeAccuracy{ka, all} {
			x.Measured++
			if c.Type == t.Type {
				x.Correct++
			}
		}
		contact.add(t.Location, c.PleuraDistanceMM)
		if t.Spiculated >= 0 {
			spScore = append(spScore, c.Spiculation)
			spPos = append(spPos, t.Spiculated == 1)
			if t.Spiculated == 1 || t.Kind == "round" {
				srScore = append(srScore, c.Spiculation)
				srPos = append(srPos, t.Spiculated == 1)
			}
		}
		a.PerNodule = append(a.PerNodule, mn)
	}
	for _, m := range r.fpMarks {
		a.LungRADSFalsePositives[rads(cands[m])]++
	}
	a.MeanDiameter, a.Volume = errorStats(dErr), errorStats(vErr)
	a.MeanDiameterByKind = errorsByKind(a.PerNodule, func(n MeasuredNodule) (Float, Float) { return n.MeanD, n.TruthMeanD })
	a.VolumeByKind = errorsByKind(a.PerNodule, func(n MeasuredNodule) (Float, Float) { return n.Vol, n.TruthVol })
	a.TypeAccuracy = typeAccuracies(byKind, all)
	a.TypeConfusion = confusion(conf, ordered(truthTypes, typeOrder), ordered(measTypes, []string{"solid", "part-solid", "non-solid", "calcified", unmeasured}))
	a.PleuraContact = contact.list()
	a.Spiculation = aucOf("spiculation", spScore, spPos)
	a.SpiculationVsRound = aucOf("spiculation", srScore, srPos)
	if len(malTruth) > 0 {
		pos := make([]bool, len(malTruth))
		for i, m := range malTruth {
			pos[i] = m >= 4
		}
		for _, k := range []string{"malignancy", "brock", "cnn"} {
			a.Malignancy = append(a.Malignancy, aucOf(k, mal[k], pos))
		}
	}
	return a
}

// typeAccuracies lists byKind's accuracies by kind, alphabetically, then
// all's, each with its Accuracy set (NaN when nothing was measured).
func typeAccuracies(byKind map[string]*TypeAccuracy, all *TypeAccuracy) []TypeAccuracy {
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []TypeAccuracy
	for _, k := range append(kinds, "") {
		x := all
		if k != "" {
			x = byKind[k]
		}
		x.Accuracy = nan
		if x.Measured > 0 {
			x.Accuracy = Float(float64(x.Correct) / float64(x.Measured))
		}
		out = append(out, *x)
	}
	return out
}

// contacts counts measured hits per truth location for PleuraContact.
type contacts map[string]*LocationContact

// add counts a measured hit of a lesion at location loc ("" when the truth
// has none: not counted) whose pleura distance is d mm (NaN: not counted).
func (m contacts) add(loc string, d float64) {
	if loc == "" || math.IsNaN(d) {
		return
	}
	lc := m[loc]
	if lc == nil {
		lc = &LocationContact{Location: loc}
		m[loc] = lc
	}
	lc.Measured++
	if d <= TouchingMM {
		lc.Touching++
	}
}

// list returns the counts, juxtapleural, mediastinal and parenchyma
// first, then other locations alphabetically.
func (m contacts) list() []LocationContact {
	locs := map[string]bool{}
	for l := range m {
		locs[l] = true
	}
	var out []LocationContact
	for _, l := range ordered(locs, []string{"juxtapleural", "mediastinal", "parenchyma"}) {
		out = append(out, *m[l])
	}
	return out
}

// rads is a candidate's Lung-RADS category for the distributions.
func rads(c candidate.Candidate) string {
	if c.LungRADS == "" {
		return unmeasured
	}
	return c.LungRADS
}

// ordered lists the keys of set: those in pref first, in pref's order,
// then the rest alphabetically.
func ordered(set map[string]bool, pref []string) []string {
	var out, rest []string
	for _, p := range pref {
		if set[p] {
			out = append(out, p)
		}
	}
	for k := range set {
		if !inList(pref, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func inList(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func confusion(counts map[[2]string]int, rows, cols []string) Confusion {
	c := Confusion{Truth: rows, Measured: cols, Counts: make([][]int, len(rows))}
	for i, r := range rows {
		c.Counts[i] = make([]int, len(cols))
		for j, col := range cols {
			c.Counts[i][j] = counts[[2]string{r, col}]
		}
	}
	return c
}

// text formats the agreement for the summary.
func (a *Agreement) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "measurement agreement (best-scoring hit per detected nodule): %d detected, %d with measurements\n",
		a.Detected, a.Measured)
	for _, e := range []struct {
		name string
		s    ErrorStats
		kind []KindError
	}{{"mean diameter (long+short)/2", a.MeanDiameter, a.MeanDiameterByKind}, {"volume", a.Volume, a.VolumeByKind}} {
		fmt.Fprintf(&b, "  %s: |relative error| median %s, 90th percentile %s (n = %d)\n", e.name,
			pct(e.s.Median), pct(e.s.P90), e.s.N)
		if len(e.kind) == 0 {
			continue
		}
		b.WriteString("    by kind, median |error| (median signed error, n):")
		for _, k := range e.kind {
			fmt.Fprintf(&b, " %s %s (%s, %d);", k.Kind, pct(k.Median), signedPct(k.Bias), k.N)
		}
		b.WriteString("\n")
	}
	b.WriteString("  type accuracy:")
	for _, t := range a.TypeAccuracy {
		fmt.Fprintf(&b, " %s %s (%d/%d);", t.Kind, pct(t.Accuracy), t.Correct, t.Measured)
	}
	b.WriteString("\n  type confusion (rows truth, columns measured):\n")
	w := len("truth \\ measured")
	for _, r := range a.TypeConfusion.Truth {
		w = max(w, len(r))
	}
	fmt.Fprintf(&b, "    %-*s", w, "truth \\ measured")
	for _, c := range a.TypeConfusion.Measured {
		fmt.Fprintf(&b, "  %*s", max(len(c), 3), c)
	}
	b.WriteString("\n")
	for i, r := range a.TypeConfusion.Truth {
		fmt.Fprintf(&b, "    %-*s", w, r)
		for j, c := range a.TypeConfusion.Measured {
			fmt.Fprintf(&b, "  %*d", max(len(c), 3), a.TypeConfusion.Counts[i][j])
		}
		b.WriteString("\n")
	}
	s := a.Spiculation
	fmt.Fprintf(&b, "  spiculated vs not, AUC of spiculation: %s (%d spiculated, %d not)\n", aucText(s), s.Positives, s.Negatives)
	if s := a.SpiculationVsRound; s.Negatives > 0 {
		fmt.Fprintf(&b, "  spiculated vs round, AUC of spiculation: %s (%d spiculated, %d round)\n", aucText(s), s.Positives, s.Negatives)
	}
	if len(a.Malignancy) > 0 {
		b.WriteString("  malignant (rating ≥ 4) vs not, AUC:")
		for _, m := range a.Malignancy {
			fmt.Fprintf(&b, " %s %s (%d/%d);", m.Column, aucText(m), m.Positives, m.Negatives)
		}
		b.WriteString("\n")
	}
	if len(a.PleuraContact) > 0 {
		fmt.Fprintf(&b, "  touching the pleura (pleura_distance_mm ≤ %g), by truth location:", float64(TouchingMM))
		for _, l := range a.PleuraContact {
			fmt.Fprintf(&b, " %s %d/%d;", l.Location, l.Touching, l.Measured)
		}
		b.WriteString("\n")
	}
	for _, d := range []struct {
		name string
		m    map[string]int
	}{{"detected nodules", a.LungRADSDetected}, {"false positives", a.LungRADSFalsePositives}} {
		fmt.Fprintf(&b, "  Lung-RADS of %s: %s\n", d.name, distText(d.m))
	}
	return b.String()
}

// distText formats a category count map in Lung-RADS order.
func distText(m map[string]int) string {
	set := map[string]bool{}
	for k := range m {
		set[k] = true
	}
	var parts []string
	for _, k := range ordered(set, []string{"0", "1", "2", "3", "4A", "4B", "4X", unmeasured}) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// pct formats a fraction as a percentage, "n/a" when undefined.
func pct(x Float) string {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(x))
}
