package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/eval"
)

// finish summarises the outcomes and writes the aggregate files, the
// metrics and summary.json (last); an interrupted batch writes nothing.
func (b *batch) finish(sum *Summary, ref references, wall time.Duration) (*Summary, error) {
	all, sub := b.summarise(sum)
	sum.WallSec = wall.Seconds()
	if sum.Interrupted > 0 {
		return sum, fmt.Errorf("%w (%d of %d scans without an outcome; the aggregate files were left as they were)",
			ErrInterrupted, sum.Interrupted, sum.Scans)
	}
	if err := b.writeAggregates(sum, all, sub); err != nil {
		return sum, err
	}
	for _, r := range sum.Records {
		sum.Patients = append(sum.Patients, patientSummary(r))
	}
	if b.cfg.Shards == 0 { // a shard's scans would leave other shards' rows unused
		for _, w := range b.clinicalMismatches(sum) {
			sum.Notes = append(sum.Notes, w)
			b.cfg.Log.Warn(w)
		}
	}
	if err := b.index(sum); err != nil {
		return sum, err
	}
	if ref.labels != nil {
		b.logLoss(sum, sub, ref.labels)
	}
	if ref.ann != nil {
		if err := b.evaluate(sum, all, ref); err != nil {
			return sum, err
		}
	}
	if err := WriteJSON(sum.Files.Summary, sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// index writes OUT/index.html from this run's records when the run writes
// reports. Without --report it never makes one, but an index an earlier
// run left is rewritten when this run redid or failed a scan, so that it
// never shows other numbers than submission.csv: a redone scan is listed
// without a link (its old report went with its other old outputs), the
// skipped scans keep theirs.
func (b *batch) index(sum *Summary) error {
	if !b.cfg.Scan.Report {
		if !earlierIndex(sum.Files.Index) || sum.Succeeded+sum.Failed == 0 {
			return nil
		}
		b.cfg.Log.Info("rewriting the earlier run's index from this run's records (scans without a report are not linked; add --report for their reports)",
			"index", sum.Files.Index, "redone", sum.Succeeded, "failed", sum.Failed)
	}
	return WriteIndex(sum.Files.Index, sum.Records, sum.Failures)
}

// logLoss scores the submission rows against the labels; with no labelled
// scan there is no loss (never a NaN in summary.json): a note says so.
func (b *batch) logLoss(sum *Summary, sub []Prediction, labels map[string]float64) {
	pred := make(map[string]float64, len(sub))
	for _, p := range sub {
		pred[p.ID], _ = strconv.ParseFloat(p.Cancer, 64)
	}
	ll, n := LogLoss(pred, labels)
	sum.Labelled = &n
	if n == 0 {
		note := fmt.Sprintf("log_loss: none of the %d scans has a label in %s (labels are matched by id)", len(sub), b.cfg.Labels)
		sum.Notes = append(sum.Notes, note)
		b.cfg.Log.Warn(note)
		return
	}
	sum.LogLoss = &ll
	b.cfg.Log.Info("log loss", "value", ll, "labelled_scans", n)
}

// evaluate runs the LUNA16 evaluation over the complete scans' series and
// writes froc.json and froc.png; a batch with nothing to evaluate gets a
// note instead.
func (b *batch) evaluate(sum *Summary, all []candidate.Candidate, ref references) error {
	var scans []string
	seen := map[string]bool{}
	for _, r := range sum.Records {
		if !seen[r.SeriesUID] {
			seen[r.SeriesUID] = true
			scans = append(scans, r.SeriesUID)
		}
	}
	note := ""
	var r *eval.Result
	var err error
	if len(scans) == 0 {
		note = "eval: no complete scan to evaluate"
	} else if r, err = eval.Evaluate(ref.ann, ref.excluded, scans, all, eval.Options{Name: "lungctl run"}); err != nil {
		if !errors.Is(err, eval.ErrNoNodules) && !errors.Is(err, eval.ErrNoScans) {
			return err
		}
		note = fmt.Sprintf("eval: %v (%s names none of the %d complete scans' series)", err, b.cfg.Annotations, len(scans))
	}
	if note != "" {
		sum.Notes = append(sum.Notes, note)
		b.cfg.Log.Warn(note)
		return nil
	}
	if err := eval.WriteJSON(sum.Files.FROCJSON, r); err != nil {
		return err
	}
	if err := eval.PlotFROC(sum.Files.FROCPNG, r); err != nil {
		return err
	}
	sum.EvalResult = r
	sum.Eval = &EvalSummary{CPM: r.CPM, Sensitivity: r.Sensitivity, FPPerScan: r.FPPerScan, SensitivityAt: r.SensitivityAt}
	return nil
}

// earlierIndex reports whether path is an index an earlier run wrote: a
// regular file (not a link).
func earlierIndex(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode().IsRegular()
}
