package pipeline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr, err := csvio.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	if err := cr.Require(SubmissionHeader...); err != nil {
		return nil, fmt.Errorf("not a submission file: %w", err)
	}
	var out []Prediction
	for {
		row, err := cr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p := Prediction{ID: row.Get("id"), Cancer: row.Get("cancer")}
		v, err := strconv.ParseFloat(p.Cancer, 64)
		if p.ID == "" || err != nil || !(v >= 0 && v <= 1) {
			return nil, row.Errorf("want a non-empty id and a cancer probability in [0,1], got %q,%q", p.ID, p.Cancer)
		}
		out = append(out, p)
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
			return fmt.Errorf("submission: %w", err)
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
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX) != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() }
}

// ReadLabels reads a Kaggle labels CSV (id,cancer, columns found by name)
// into a map; every label must be 0 or 1.
func ReadLabels(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr, err := csvio.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	if err := cr.Require(SubmissionHeader...); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	m := map[string]float64{}
	for {
		row, err := cr.Next()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseFloat(row.Get("cancer"), 64)
		if err != nil || (v != 0 && v != 1) {
			return nil, row.Errorf("cancer must be 0 or 1, got %q", row.Get("cancer"))
		}
		m[row.Get("id")] = v
	}
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
