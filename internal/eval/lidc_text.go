package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volio"
)

// EvaluateLIDCFiles loads the series under dir (LoadLIDC), the candidates
// CSV (ReadCandidates) and, when labels is not "", the label map
// (.nii/.nii.gz/.mhd/.mha), and runs EvaluateLIDC.
func EvaluateLIDCFiles(dir, candidates, labels string, opt LIDCOptions) (*LIDCResult, error) {
	s, err := LoadLIDC(dir)
	if err != nil {
		return nil, err
	}
	cands, err := ReadCandidates(candidates)
	if err != nil {
		return nil, err
	}
	return evaluateLIDCLabels(s, cands, labels, opt)
}

func evaluateLIDCLabels(s *LIDCSeries, cands []candidate.Candidate, labels string, opt LIDCOptions) (*LIDCResult, error) {
	if labels == "" {
		return EvaluateLIDC(s, cands, nil, opt)
	}
	lv, err := volio.ReadMask(labels)
	if err != nil {
		return nil, fmt.Errorf("eval: label map: %w", err)
	}
	opt.LabelsFile = labels
	return EvaluateLIDC(s, cands, lv, opt)
}

// WriteLIDCJSON writes r as indented JSON to path atomically.
func WriteLIDCJSON(path string, r *LIDCResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

// Summary is the human-readable report: one paragraph per nodule, then the
// totals and the malignancy AUC.
func (r *LIDCResult) Summary() string {
	var b strings.Builder
	name := r.Name
	if name == "" {
		name = "system"
	}
	fmt.Fprintf(&b, "%s on LIDC series %s (readers' XML %s, %d reading sessions): %d candidates of this series",
		name, r.SeriesUID, filepath.Base(r.XML), r.Sessions, r.Candidates)
	if r.CandidatesOther > 0 {
		fmt.Fprintf(&b, ", %d of other series ignored", r.CandidatesOther)
	}
	fmt.Fprintf(&b, "\ntruth: %d physical nodules ≥ 3 mm (50 %% consensus centroid and equivalent diameter, LUNA16 hit rule); %d marks of nodules < 3 mm and %d non-nodules are excluded findings\n",
		len(r.Nodules), r.Small, r.NonNodules)
	for _, n := range r.Nodules {
		fmt.Fprintf(&b, "nodule %d at (%.1f, %.1f, %.1f) mm: %d readers, consensus %.1f mm equivalent, %.0f mm³, readers' mean diameter %.1f mm, texture %s, median malignancy %s (%s)\n",
			n.Index, n.Centroid[0], n.Centroid[1], n.Centroid[2], n.Readers, n.EquivDiameterMM, n.VolumeMM3,
			n.ReadersDiameterMM, n.Texture, fmtF(n.MedianMalignancy, 1), map[bool]string{true: "malignant", false: "benign"}[n.Malignant])
		if !n.Detected {
			b.WriteString("  missed\n")
			continue
		}
		fmt.Fprintf(&b, "  hit by candidate rank %d (row %d, probability %.4f, %.2f mm from the centroid, %d marks within its radius)\n",
			n.Rank, n.Candidate+1, n.Probability, n.DistanceMM, n.Hits)
		if n.Type == "" {
			b.WriteString("  the hit has no measurements\n")
		} else {
			fmt.Fprintf(&b, "  mean diameter %s mm: %s mm (%s) vs equivalent, %s mm (%s) vs readers; volume %s mm³: %s mm³ (%s); type %s vs %s: %s\n",
				fmtF(n.HitMeanDiameterMM, 1), signedF(n.DiameterErrEquivMM), signedPct(n.DiameterRelEquiv),
				signedF(n.DiameterErrReadMM), signedPct(n.DiameterRelRead), fmtF(n.HitVolumeMM3, 0),
				signedF(n.VolumeErrMM3), signedPct(n.VolumeRel), n.Type, n.Texture, agreeText(n.TypeAgrees))
		}
		if n.SpiculationAgrees != nil {
			fmt.Fprintf(&b, "  spiculation %s vs readers' median rating %s: %s\n", fmtF(n.HitSpiculation, 2),
				fmtF(n.MedianSpiculation, 1), agreeText(n.SpiculationAgrees))
		}
		if r.Labels != "" {
			fmt.Fprintf(&b, "  Dice %s (label %d: %s source voxels, consensus %d, both %d)\n", fmtF(n.Dice, 3), n.Rank,
				fmtF(n.DiceOurs, 1), n.Voxels, n.DiceBoth)
		}
	}
	fmt.Fprintf(&b, "detected %d of %d; %d false positives, %d marks on excluded findings\n", r.Detected, len(r.Nodules),
		r.FalsePositives, r.IgnoredMarks)
	if r.DiameterVsEquiv.N > 1 {
		fmt.Fprintf(&b, "|relative error| median: diameter %s vs equivalent, %s vs readers; volume %s (n = %d)\n",
			pct(r.DiameterVsEquiv.Median), pct(r.DiameterVsReaders.Median), pct(r.Volume.Median), r.DiameterVsEquiv.N)
	}
	if r.TypeCompared > 0 {
		fmt.Fprintf(&b, "type agreement %d of %d\n", r.TypeAgree, r.TypeCompared)
	}
	if r.SpiculationCompared > 0 {
		fmt.Fprintf(&b, "spiculation agreement %d of %d (readers' median rating ≥ %g spiculated, score ≥ %g flagged); AUC %s\n",
			r.SpiculationAgree, r.SpiculationCompared, r.SpiculatedFrom, r.SpiculatedAt, aucText(r.SpiculationAUC))
	}
	if r.Labels != "" {
		fmt.Fprintf(&b, "mean Dice %s\n", fmtF(r.MeanDice, 3))
	}
	fmt.Fprintf(&b, "malignancy AUC (readers' median rating ≥ %g malignant, < %g benign; detected nodules):", r.MalignantFrom, r.MalignantFrom)
	for _, a := range r.MalignancyAUC {
		fmt.Fprintf(&b, " %s %s;", a.Column, aucText(a))
	}
	b.WriteString("\n")
	for _, n := range r.Notes {
		b.WriteString(n + "\n")
	}
	return b.String()
}

func signedF(x Float) string {
	if math.IsNaN(float64(x)) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f", float64(x))
}

func signedPct(x Float) string {
	if math.IsNaN(float64(x)) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f %%", 100*float64(x))
}

func agreeText(a *bool) string {
	switch {
	case a == nil:
		return "n/a"
	case *a:
		return "agree"
	}
	return "disagree"
}
