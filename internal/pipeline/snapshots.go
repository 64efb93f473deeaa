package pipeline

import (
	"fmt"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/render"
)

// WriteSnapshots draws, for the top k candidates of cs (by Probability; all
// when k ≤ 0), one PNG each with axial, coronal and sagittal slices through
// the candidate (lung window, candidate circled), plus a per-scan overview
// (lung MIP with the candidates marked), into dir. It returns the file names
// relative to dir.
func WriteSnapshots(p *Preprocessed, cs []candidate.Candidate, dir string, k int) ([]string, error) {
	sorted := append([]candidate.Candidate(nil), cs...)
	candidate.SortByProbability(sorted)
	if k > 0 && len(sorted) > k {
		sorted = sorted[:k]
	}
	var names []string
	ov := p.ID + "_overview.png"
	if err := render.Overview(p.HU, p.Lung, cs, filepath.Join(dir, ov),
		render.OverviewOptions{TopK: len(sorted), Title: p.ID}); err != nil {
		return nil, err
	}
	names = append(names, ov)
	for r, c := range sorted {
		name := fmt.Sprintf("%s_cand%02d.png", p.ID, r+1)
		title := fmt.Sprintf("%s rank %d/%d", p.ID, r+1, len(cs))
		if err := render.Snapshot(p.HU, c, filepath.Join(dir, name), render.SnapshotOptions{Title: title}); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}
