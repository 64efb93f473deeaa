package eval

import (
	"fmt"
	"math"
	"sort"
)

// Group is the FROC analysis of a subset of the nodules (one kind, one size
// band). Its rule is the standard one for subgroup FROC:
//
//   - the sensitivity denominator is the subset's nodules only;
//   - the false positives are all the false-positive marks of the whole
//     evaluation (every scan), so the FP rate per scan is the same as the
//     overall curve's;
//   - marks that hit a nodule of another subset are neither hits nor false
//     positives here (they are used up by that nodule, as in the overall
//     analysis).
//
// Statistics are NaN (null in JSON) when the subset has no nodule.
type Group struct {
	// Name is the kind (e.g. "round") or the size band (e.g. "4–6 mm").
	Name string `json:"name"`
	// LowMM and HighMM bound a size band: LowMM ≤ diameter_mm < HighMM
	// (mm; HighMM is null for the open last band). Zero for kinds.
	LowMM  Float `json:"low_mm,omitempty"`
	HighMM Float `json:"high_mm,omitempty"`
	// Nodules is the number of annotated nodules in the subset, Detected
	// of them hit by at least one kept mark.
	Nodules  int `json:"nodules"`
	Detected int `json:"detected"`
	// Sensitivity is Detected/Nodules at the lowest threshold.
	Sensitivity Float `json:"sensitivity"`
	// SensitivityAt4 is the FROC sensitivity at 4 FP/scan (also
	// SensitivityAt[5]).
	SensitivityAt4 Float `json:"sensitivity_at_4_fp"`
	// SensitivityAt is the sensitivity at the 7 OperatingPoints, CPM their
	// mean.
	SensitivityAt [7]Float `json:"sensitivity_at"`
	CPM           Float    `json:"cpm"`
}

// SizeBand is a range of nodule diameters, LowMM ≤ d < HighMM (mm).
type SizeBand struct {
	Name          string
	LowMM, HighMM float64
}

// SizeBands are the bands of BySize: 3–4, 4–6, 6–10, 10–30 and ≥ 30 mm of
// diameter_mm. Nodules under 3 mm fall in UnderThreeBand, listed only when
// the size rule lets such nodules be annotations.
var SizeBands = []SizeBand{{"3–4 mm", 3, 4}, {"4–6 mm", 4, 6}, {"6–10 mm", 6, 10}, {"10–30 mm", 10, 30},
	{"≥ 30 mm", 30, math.Inf(1)}}

// UnderThreeBand holds the annotated nodules under 3 mm.
var UnderThreeBand = SizeBand{"< 3 mm", 0, 3}

// Subgroup returns the FROC of the nodules PerNodule[i] for which in(i)
// is true, against all the false positives of the evaluation (see Group).
// It needs the Result returned by Evaluate (a Result read back from JSON
// has lost the false-positive marks' probabilities).
func (r *Result) Subgroup(name string, in func(i int) bool) Group {
	g := Group{Name: name}
	var es []entry
	for _, e := range r.entries {
		if !e.tp {
			es = append(es, e)
		}
	}
	for i, nr := range r.PerNodule {
		if !in(i) {
			continue
		}
		g.Nodules++
		if nr.Detected {
			g.Detected++
			es = append(es, entry{prob: nr.Probability, tp: true})
		}
	}
	if g.Nodules == 0 {
		g.Sensitivity, g.SensitivityAt4, g.CPM = nan, nan, nan
		for k := range g.SensitivityAt {
			g.SensitivityAt[k] = nan
		}
		return g
	}
	sort.SliceStable(es, func(a, b int) bool { return es[a].prob > es[b].prob })
	curve := froc(es, nil, float64(g.Nodules), float64(r.Scans), nil)
	at, c := cpm(curve)
	for k, s := range at {
		g.SensitivityAt[k] = Float(s)
	}
	g.Sensitivity = Float(float64(g.Detected) / float64(g.Nodules))
	g.SensitivityAt4 = Float(at[5])
	g.CPM = Float(c)
	return g
}

// byKind returns one Group per kind of rows (rows[i] is PerNodule[i]'s
// truth), kinds in alphabetical order ("" reads as "unknown").
func (r *Result) byKind(rows []TruthRow) []Group {
	seen := map[string]bool{}
	var kinds []string
	for _, t := range rows {
		if !seen[t.Kind] {
			seen[t.Kind] = true
			kinds = append(kinds, t.Kind)
		}
	}
	sort.Strings(kinds)
	var out []Group
	for _, k := range kinds {
		name := k
		if name == "" {
			name = "unknown"
		}
		out = append(out, r.Subgroup(name, func(i int) bool { return rows[i].Kind == k }))
	}
	return out
}

// bySize returns one Group per SizeBand (and UnderThreeBand first when an
// annotated nodule is under 3 mm), by PerNodule's diameter.
func (r *Result) bySize() []Group {
	bands := SizeBands
	for _, nr := range r.PerNodule {
		if nr.DiameterMM < 3 {
			bands = append([]SizeBand{UnderThreeBand}, SizeBands...)
			break
		}
	}
	out := make([]Group, 0, len(bands))
	for _, b := range bands {
		g := r.Subgroup(b.Name, func(i int) bool {
			d := r.PerNodule[i].DiameterMM
			return d >= b.LowMM && d < b.HighMM
		})
		g.LowMM, g.HighMM = Float(b.LowMM), Float(b.HighMM)
		out = append(out, g)
	}
	return out
}

// groupTable formats groups (fmt pads by runes, so "≥" and "–" align) as a text table: nodules, detected,
// sensitivity, sensitivity at 4 FP/scan and CPM ("n/a" when undefined).
func groupTable(title string, gs []Group) string {
	w := len(title)
	for _, g := range gs {
		w = max(w, len([]rune(g.Name)))
	}
	s := fmt.Sprintf("%-*s  %7s  %8s  %11s  %9s  %6s\n", w, title, "nodules", "detected", "sensitivity", "sens@4FP", "CPM")
	for _, g := range gs {
		s += fmt.Sprintf("%-*s  %7d  %8d  %11s  %9s  %6s\n", w, g.Name, g.Nodules, g.Detected, fmtF(g.Sensitivity, 4),
			fmtF(g.SensitivityAt4, 4), fmtF(g.CPM, 4))
	}
	return s
}

// fmtF formats x with prec decimals, "n/a" when it is not finite.
func fmtF(x Float, prec int) string {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, float64(x))
}
