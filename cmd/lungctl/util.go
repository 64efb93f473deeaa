package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/warn"
)

func mkdirOut(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	return nil
}

func readSubmission(b []byte) ([][2]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) != 2 || recs[0][0] != "id" || recs[0][1] != "cancer" {
		return nil, fmt.Errorf("not a submission file (want header id,cancer)")
	}
	out := make([][2]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		out = append(out, [2]string{rec[0], rec[1]})
	}
	return out, nil
}

type candidateT = candidate.Candidate

func readCandidates(path string) ([]candidate.Candidate, error) { return candidate.ReadFile(path) }

// logWarnings logs a scan's loader warnings, folding the routine skipped
// non-DICOM files (CSV, XML, notes beside the images; warn.SkippedNotDICOM)
// into one line; the full list stays in the provenance JSON.
func logWarnings(input string, ws []warn.Warning) {
	var skipped []string
	for _, w := range ws {
		if w.Code == warn.SkippedNotDICOM {
			skipped = append(skipped, w.File)
			continue
		}
		logger.Warn(w.String(), "input", input, "code", string(w.Code))
	}
	if len(skipped) > 0 {
		logger.Info("skipped non-DICOM files", "input", input, "count", len(skipped), "first", skipped[0])
	}
}
