package pipeline

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/report"
)

// Order is how pictures and reports rank a scan's candidates.
type Order string

// The orders: by malignancy (the scorer's; not scored last, ties by
// detection), or by detection score (the candidates file's probability).
const (
	OrderMalignancy Order = "malignancy"
	OrderDetection  Order = "detection"
)

// ParseOrder reads an --order value.
func ParseOrder(s string) (Order, error) {
	switch Order(s) {
	case OrderMalignancy, OrderDetection:
		return Order(s), nil
	}
	return "", fmt.Errorf("%w: --order %q: want malignancy or detection", ErrUsage, s)
}

// Ordered returns the indices of cs in order o: by detection-weighted
// malignancy (report.DetectionWeighted, the key report.Sort ranks
// findings by: Malignancy × Probability, the detection score: how likely
// the candidate is a malignant lesion, what the patient's noisy-OR
// combines; Malignancy alone where the detection score is NaN; highest
// first, NaN and ±Inf last), ties by Probability, then by position in cs (the
// detection rank in lungctl's files); or by Probability alone, ties by
// position. Weighting keeps a large false candidate, whose size gives it a
// high Brock probability, behind the lesions.
func Ordered(cs []candidate.Candidate, o Order) []int {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if o == OrderMalignancy {
			wa := report.DetectionWeighted(cs[a].Malignancy, cs[a].Probability)
			wb := report.DetectionWeighted(cs[b].Malignancy, cs[b].Probability)
			if c := report.DescNaNLast(wa, wb); c != 0 {
				return c
			}
		}
		return report.DescNaNLast(cs[a].Probability, cs[b].Probability)
	})
	return idx
}

// SnapshotOptions configures WriteSnapshots.
type SnapshotOptions struct {
	// Top is how many candidates get a picture (≤ 0: all).
	Top int
	// Order ranks the candidates ("" means OrderMalignancy).
	Order Order
	// Window maps HU to grey in the candidates' pictures (zero: the lung
	// window W 1500 L −600 HU).
	Window render.Window
}

// WriteSnapshots draws, for the first Top candidates of cs in opt.Order,
// one PNG each with axial, coronal and sagittal slices through the
// candidate (in opt.Window, the candidate circled), named
// <id>_candNN.png by that rank, plus a per-scan overview (lung MIP with
// the same candidates marked and numbered alike), into dir. The slices
// come from p.Source, the acquisition grid, when it is there (pixels at
// the source's resolution), else from the 1 mm volume; the overview from
// the 1 mm volume and its mask. It returns the file names relative to dir.
func WriteSnapshots(p *Preprocessed, cs []candidate.Candidate, dir string, opt SnapshotOptions) ([]string, error) {
	if opt.Order == "" {
		opt.Order = OrderMalignancy
	}
	idx := Ordered(cs, opt.Order)
	all := make([]candidate.Candidate, len(idx))
	for r, i := range idx {
		all[r] = cs[i]
	}
	top := -1
	if opt.Top > 0 && len(idx) > opt.Top {
		idx, top = idx[:opt.Top], opt.Top
	}
	sorted := all[:len(idx)]
	var names []string
	ov := p.ID + "_overview.png"
	title := fmt.Sprintf("%s  (numbered by %s)", p.ID, opt.Order)
	// Every candidate counts in the overview's caption; the pictured ones
	// are marked.
	if err := render.Overview(p.HU, p.Lung, all, filepath.Join(dir, ov),
		render.OverviewOptions{TopK: top, Ordered: true, Title: title}); err != nil {
		return nil, err
	}
	names = append(names, ov)
	src := p.Source
	if src == nil {
		src = p.HU
	}
	for r, c := range sorted {
		name := fmt.Sprintf("%s_cand%02d.png", p.ID, r+1)
		title := fmt.Sprintf("%s rank %d/%d by %s (detection rank %d)", p.ID, r+1, len(cs), opt.Order, idx[r]+1)
		if err := render.Snapshot(src, c, filepath.Join(dir, name), render.SnapshotOptions{Title: title, Window: opt.Window}); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}
