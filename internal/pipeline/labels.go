package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/csvio"
)

// ReadLabels reads a Kaggle labels CSV (id,cancer, columns found by name)
// into a map; every label must be 0 or 1, and an id given two different
// labels is an error naming the file and both lines. The same label given
// twice is returned as a warning.
func ReadLabels(path string) (map[string]float64, []string, error) {
	m := map[string]float64{}
	line := map[string]int{}
	var dups []string
	err := readIDCancer(path, "labels", func(row csvio.Row, id, cancer string) error {
		v, err := strconv.ParseFloat(cancer, 64)
		if err != nil || (v != 0 && v != 1) {
			return row.Errorf("cancer must be 0 or 1, got %q", cancer)
		}
		if prev, ok := m[id]; ok {
			if prev != v {
				return row.Errorf("id %q is labelled %v here and %v on line %d", id, v, prev, line[id])
			}
			dups = append(dups, fmt.Sprintf("%q (lines %d and %d)", id, line[id], row.Line))
			return nil
		}
		m[id], line[id] = v, row.Line
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var warns []string
	if len(dups) > 0 {
		warns = append(warns, fmt.Sprintf("labels: %s gives %d ids the same label twice: %s", path, len(dups), examples(dups)))
	}
	return m, warns, nil
}

// maxExamples is how many ids a mismatch warning names.
const maxExamples = 5

// examples joins up to maxExamples of s, saying how many more there are.
func examples(s []string) string {
	if len(s) <= maxExamples {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:maxExamples], ", "), len(s)-maxExamples)
}

func quoted(ids []string) []string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = strconv.Quote(id)
	}
	return q
}

// labelMismatches are the warnings about labels that match no scan of the
// whole input (all: every scan id, whatever the shard) and about this run's
// scans (ids) without a label. With no scan labelled the log-loss note says
// so instead of the second.
func labelMismatches(path string, labels map[string]float64, all, ids []string) []string {
	have := make(map[string]bool, len(all))
	for _, id := range all {
		have[id] = true
	}
	var stray, unlabelled []string
	for id := range labels {
		if !have[id] {
			stray = append(stray, id)
		}
	}
	slices.Sort(stray)
	for _, id := range ids {
		if _, ok := labels[id]; !ok {
			unlabelled = append(unlabelled, id)
		}
	}
	var w []string
	if len(stray) > 0 {
		w = append(w, fmt.Sprintf("labels: %d of the %d ids in %s match no scan (ids match scan ids exactly): %s",
			len(stray), len(labels), path, examples(hinted(stray, all))))
	}
	if len(unlabelled) > 0 && len(unlabelled) < len(ids) {
		w = append(w, fmt.Sprintf("labels: %d of the %d scans have no label in %s and are left out of the log loss: %s",
			len(unlabelled), len(ids), path, examples(quoted(unlabelled))))
	}
	return w
}

// hinted quotes each id of stray, naming a candidate of the same name but
// for case and surrounding spaces.
func hinted(stray, candidates []string) []string {
	fold := map[string]string{}
	for _, c := range candidates {
		fold[strings.ToLower(strings.TrimSpace(c))] = c
	}
	out := quoted(stray)
	for i, s := range stray {
		if c, ok := fold[strings.ToLower(strings.TrimSpace(s))]; ok && c != s {
			out[i] += fmt.Sprintf(" (scan %q?)", c)
		}
	}
	return out
}

// clinicalMismatches is the warning about --clinical rows no scan of the
// batch used: rows match a scan id or a processed scan's DICOM PatientID
// (a failed scan's PatientID is not known, so only its scan id counts).
func (b *batch) clinicalMismatches(sum *Summary) []string {
	t := b.cfg.Scan.Score.Clinical
	if len(t) == 0 {
		return nil
	}
	used := map[string]bool{}
	var names []string
	for _, r := range sum.Records {
		names = append(names, r.ID)
		if _, ok := t[r.ID]; ok {
			used[r.ID] = true
		} else if r.PatientID != "" {
			names = append(names, r.PatientID)
			used[r.PatientID] = true
		}
	}
	for _, f := range sum.Failures {
		names = append(names, f.ID)
		used[f.ID] = true
	}
	var unused []string
	for id := range t {
		if !used[id] {
			unused = append(unused, id)
		}
	}
	if len(unused) == 0 {
		return nil
	}
	slices.Sort(unused)
	file := b.cfg.ClinicalFile
	if file == "" {
		file = "--clinical"
	}
	return []string{fmt.Sprintf("clinical: %d of the %d ids in %s match no scan id or DICOM PatientID, so their rows were not used (ids match exactly): %s",
		len(unused), len(t), file, examples(hinted(unused, names)))}
}
