package pipeline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/lungctl/lungctl/internal/csvio"
)

// SubmissionHeader is the Kaggle DSB 2017 submission header.
var SubmissionHeader = []string{"id", "cancer"}

// Prediction is one row of a submission: a patient id and its cancer
// probability in [0,1], kept as the text written (six decimals for ours).
type Prediction struct {
	ID     string
	Cancer string
}

// FormatCancer writes a probability as submission.csv does.
func FormatCancer(p float64) string { return strconv.FormatFloat(p, 'f', 6, 64) }

// ReadSubmission reads an id,cancer file (columns found by name; others
// ignored). Every id must be non-empty and every cancer a number in [0,1].
func ReadSubmission(path string) ([]Prediction, error) {
	var out []Prediction
	err := readIDCancer(path, "submission", func(row csvio.Row, id, cancer string) error {
		v, err := strconv.ParseFloat(cancer, 64)
		if id == "" || err != nil || !(v >= 0 && v <= 1) {
			return row.Errorf("want a non-empty id and a cancer probability in [0,1], got %q,%q", id, cancer)
		}
		out = append(out, Prediction{ID: id, Cancer: cancer})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// idCancerRowBytes is what readIDCancer's callers keep of a row: a
// Prediction (two strings), or a labels entry in two maps, with the maps'
// own overhead.
const idCancerRowBytes = 96

// readIDCancer reads a CSV with the id and cancer columns (found by name;
// others ignored; what names the kind of file in the error when one is
// missing) and calls each with every non-blank row's cells, stopping at its
// first error. Every error starts with "pipeline:" and names the file.
func readIDCancer(path, what string, each func(row csvio.Row, id, cancer string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err) // *fs.PathError: names the file
	}
	defer f.Close()
	// From here every error names the file: csvio's carry the name it is
	// given, and each's row.Errorf the name and line.
	cr, err := csvio.NewReader(f, path)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := cr.Require(SubmissionHeader...); err != nil {
		return fmt.Errorf("pipeline: not a %s file: %w", what, err)
	}
	cr.Hold(idCancerRowBytes)
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		if err := each(row, row.Get("id"), row.Get("cancer")); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
}

// WriteSubmission writes rows as an id,cancer file atomically (ids are text
// cells: quoted as CSV needs and kept from starting a spreadsheet formula).
func WriteSubmission(path string, rows []Prediction) error {
	recs := make([][]string, len(rows))
	for i, r := range rows {
		recs[i] = []string{r.ID, r.Cancer}
	}
	return csvio.WriteFile(path, SubmissionHeader, []string{"cancer"}, recs)
}

// AppendSubmission sets patient id's probability p in the submission file
// at path: it replaces the row of the same id or appends one, creating the
// file with its header when it is absent or empty. The file is rewritten
// atomically, and concurrent appends to files of one folder are serialised
// with a lock on the folder, so none is lost.
func AppendSubmission(path, id string, p float64) error {
	if id == "" {
		return errors.New("submission: empty patient id")
	}
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("submission: %s: cancer probability %v is not in [0,1]", id, p)
	}
	unlock := lockFolder(filepath.Dir(path))
	defer unlock()
	var rows []Prediction
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if rows, err = ReadSubmission(path); err != nil {
			return err // names the file, says what is wrong with it
		}
		// It is written back with id,cancer only: other columns would be
		// lost without a word.
		if extra, err := extraColumns(path); err != nil || len(extra) > 0 {
			if err == nil {
				err = fmt.Errorf("pipeline: submission %s has columns besides %s (%s), which rewriting it would drop: give a new file",
					path, strings.Join(SubmissionHeader, ","), strings.Join(extra, ","))
			}
			return err
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("submission: %w", err)
	}
	found := false
	for i := range rows {
		if rows[i].ID == id {
			rows[i].Cancer, found = FormatCancer(p), true
		}
	}
	if !found {
		rows = append(rows, Prediction{ID: id, Cancer: FormatCancer(p)})
	}
	if err := WriteSubmission(path, rows); err != nil {
		return fmt.Errorf("submission: %w", err)
	}
	return nil
}

// lockFolder takes an exclusive flock on dir, waiting for it, and returns
// its release; where folders cannot be locked it returns a no-op.
func lockFolder(dir string) func() {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	// A folder opened for reading: its Close can lose nothing (and ends
	// the flock).
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX) != nil {
		_ = f.Close()
		return func() {}
	}
	return func() { _ = f.Close() }
}

// LogLoss is the Kaggle DSB 2017 metric: mean binary cross-entropy of the
// predictions against labels, with predictions clipped to [1e-15, 1−1e-15].
// Only ids present in both are scored; n is how many, and loss is NaN when
// n is 0 (callers report that as "no labelled scan", never write it).
func LogLoss(pred map[string]float64, labels map[string]float64) (loss float64, n int) {
	keys := make([]string, 0, len(pred))
	for k := range pred {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		y, ok := labels[k]
		if !ok {
			continue
		}
		p := math.Min(math.Max(pred[k], 1e-15), 1-1e-15)
		loss -= y*math.Log(p) + (1-y)*math.Log(1-p)
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return loss / float64(n), n
}

// extraColumns returns the header names of the CSV at path other than
// SubmissionHeader's.
func extraColumns(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	defer f.Close()
	cr, err := csvio.NewReader(f, path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	var extra []string
	for _, h := range cr.Header() {
		if !slices.Contains(SubmissionHeader, h) {
			extra = append(extra, h)
		}
	}
	return extra, nil
}
