package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/csvio"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volio"
)

// ScanFunc processes one scan: it reads input, writes its outputs into
// scanDir (creating only complete files, atomically) and returns the record
// and the scored candidates.
type ScanFunc func(ctx context.Context, input, scanDir string) (ScanRecord, []candidate.Candidate, error)

// DefaultFallbackCancer is the DSB 2017 stage 1 training prevalence
// (362/1397 ≈ 0.26), the constant prediction with the best expected log loss
// for a patient whose scan could not be processed.
const DefaultFallbackCancer = 0.26

// Shard returns the scans of shard i of n (1-based): every n-th input
// starting at the i-th, so shards are balanced and disjoint and together
// cover inputs.
func Shard(inputs []string, i, n int) ([]string, error) {
	if n < 1 || i < 1 || i > n {
		return nil, fmt.Errorf("shard %d/%d: want 1 <= i <= n", i, n)
	}
	var out []string
	for k := i - 1; k < len(inputs); k += n {
		out = append(out, inputs[k])
	}
	return out, nil
}

func suffixed(name, suffix string) string {
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + suffix + ext
}

// scanResult is one input's outcome in a batch.
type scanResult struct {
	rec         ScanRecord
	cands       []candidate.Candidate
	err         error
	skipped     bool // complete from an earlier run
	interrupted bool // stopped by the run's cancellation: no outcome
}

// batch is the state of one Run's scans.
type batch struct {
	cfg     *Config
	inputs  []string
	ids     []string
	dirs    []string
	dirErr  []error // a scan folder that cannot be used
	results []scanResult
	env     []string // added to each scan process's environment
	perScan int64    // memory budget of one scan, bytes
	// settings are this run's scan settings but the clinical row (see
	// batch.changed).
	settings ScanSettings
	// allIDs are the ids of every scan of the input, whatever the shard.
	allIDs []string

	mu   sync.Mutex
	done int
}

// run processes every input with cfg.Workers workers, each holding one of
// par's slots while it processes a scan.
func (b *batch) run(ctx context.Context) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < b.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fn ScanFunc
			if !b.cfg.Isolate {
				fn = b.cfg.newScan()
			}
			for i := range jobs {
				b.results[i] = b.one(ctx, i, fn)
				b.progress(i)
			}
		}()
	}
	for i := range b.inputs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// one skips, runs or spawns scan i.
func (b *batch) one(ctx context.Context, i int, fn ScanFunc) scanResult {
	if b.dirErr[i] != nil {
		return scanResult{err: b.dirErr[i]}
	}
	if !b.cfg.Force {
		if r, ok := b.resume(i); ok {
			return r
		}
	}
	release, err := par.Acquire(ctx)
	if err != nil {
		return scanResult{err: err, interrupted: true}
	}
	defer release()
	var r scanResult
	if b.cfg.Isolate {
		r = b.spawn(ctx, i)
	} else {
		r = runOne(ctx, fn, b.inputs[i], b.dirs[i], b.ids[i])
	}
	if r.err != nil && ctx.Err() != nil {
		r.interrupted = true
	}
	if r.err == nil {
		b.cfg.Log.Debug("scan done", "scan", b.ids[i], "candidates", r.rec.Candidates, "cancer", r.rec.Cancer,
			"seconds", r.rec.Seconds)
	}
	return r
}

// resume returns scan i's result from an earlier run when that run
// completed it with every output this run asks for and with this run's
// settings; otherwise the scan is redone, and the log says why (unless it
// never had a done.json).
func (b *batch) resume(i int) (scanResult, bool) {
	rec, cs, err := readComplete(b.dirs[i], b.ids[i])
	if errors.Is(err, os.ErrNotExist) && !fileExists(filepath.Join(b.dirs[i], DoneFile)) {
		return scanResult{}, false
	}
	if err != nil {
		b.cfg.Log.Warn("redoing scan: its earlier outputs are incomplete", "scan", b.ids[i], "error", err)
		return scanResult{}, false
	}
	if !hasAll(rec.Files, b.cfg.Scan.Outputs(b.ids[i])) {
		b.cfg.Log.Info("redoing scan: this run asks for outputs it does not have", "scan", b.ids[i])
		return scanResult{}, false
	}
	if d := b.changed(rec); len(d) > 0 {
		b.cfg.Log.Info("redoing scan: its settings differ from this run's", "scan", b.ids[i],
			"done", filepath.Join(b.dirs[i], DoneFile), "changed", strings.Join(d, "; "))
		return scanResult{}, false
	}
	return scanResult{rec: rec, cands: cs, skipped: true}, true
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (b *batch) progress(i int) {
	r := b.results[i]
	if r.interrupted || b.cfg.Progress == nil {
		return
	}
	b.mu.Lock()
	b.done++
	d := b.done
	b.mu.Unlock()
	b.cfg.Progress(d, len(b.inputs), b.ids[i], r.err)
}

// runOne processes one scan into dir with fn, turning a panic into an error
// that names the input, and writes candidates.csv and then done.json last.
// The outputs an earlier done.json in dir listed are removed first.
// It is the whole of a scan both in-process and inside a scan process.
func runOne(ctx context.Context, fn ScanFunc, input, dir, id string) (r scanResult) {
	defer func() {
		if p := recover(); p != nil {
			r = scanResult{err: fmt.Errorf("%s: internal error: %v", input, p)}
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return scanResult{err: err}
	}
	removeStaleTemps(dir)
	prev := previousOutputs(dir)
	if err := os.Remove(filepath.Join(dir, DoneFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return scanResult{err: err}
	}
	// The folder is incomplete from here; the earlier run's outputs go
	// before the new ones are made (see previousOutputs).
	if err := removePrevious(dir, prev); err != nil {
		return scanResult{err: err}
	}
	rec, cs, err := fn(ctx, input, dir)
	if err != nil {
		return scanResult{err: err}
	}
	for i := range cs {
		cs[i].PatientID = id
	}
	if err := candidate.WriteFile(filepath.Join(dir, CandidatesFile), cs); err != nil {
		return scanResult{err: err}
	}
	rec.ID, rec.Input, rec.Candidates, rec.ToolVersion = id, absPath(input), len(cs), volio.ToolVersion
	rec.Files = appendUnique(rec.Files, CandidatesFile)
	if rec.Warnings == nil {
		rec.Warnings = []string{} // "warnings": [], never absent or null
	}
	if err := WriteJSON(filepath.Join(dir, DoneFile), rec); err != nil {
		return scanResult{err: err}
	}
	return scanResult{rec: rec, cands: cs}
}

// hasAll reports whether files holds every name of want.
func hasAll(files, want []string) bool {
	for _, w := range want {
		if !slices.Contains(files, w) {
			return false
		}
	}
	return true
}

func appendUnique(s []string, x string) []string {
	for _, y := range s {
		if y == x {
			return s
		}
	}
	return append(s, x)
}

// summarise counts the results into sum and returns the combined
// candidates and submission rows, in input order.
func (b *batch) summarise(sum *Summary) ([]candidate.Candidate, []Prediction) {
	var all []candidate.Candidate
	var sub []Prediction
	for i, r := range b.results {
		switch {
		case r.interrupted:
			sum.Interrupted++
			continue
		case r.err != nil:
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{ID: b.ids[i], Input: b.inputs[i], Error: r.err.Error()})
			sub = append(sub, Prediction{ID: b.ids[i], Cancer: FormatCancer(b.cfg.FallbackCancer)})
			continue
		case r.skipped:
			sum.Skipped++
		default:
			sum.Succeeded++
		}
		for k, v := range r.rec.Seconds {
			sum.Seconds[k] += v
		}
		sum.Records = append(sum.Records, r.rec)
		all = append(all, r.cands...)
		sub = append(sub, Prediction{ID: b.ids[i], Cancer: FormatCancer(r.rec.Cancer)})
	}
	return all, sub
}

// writeAggregates writes the combined candidates, the submission and the
// failures; summary.json comes later, last.
func (b *batch) writeAggregates(sum *Summary, all []candidate.Candidate, sub []Prediction) error {
	if err := candidate.WriteFile(sum.Files.Candidates, all); err != nil {
		return err
	}
	if err := WriteSubmission(sum.Files.Submission, sub); err != nil {
		return err
	}
	rows := make([][]string, len(sum.Failures))
	for i, f := range sum.Failures {
		rows[i] = []string{f.ID, f.Input, f.Error}
	}
	return csvio.WriteFile(sum.Files.Failures, []string{"id", "input", "error"}, nil, rows)
}

// absPath is p made absolute (p itself when that fails): the scan's input
// as done.json and the sidecar record it, so that 'lungctl report' or
// 'snapshot' run later from another folder still finds it (a relative
// ../shared/... failed there).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
