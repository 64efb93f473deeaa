package pipeline

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/candidate"
)

// DoneFile is the name of the per-scan completion record, written last and
// atomically: a scan folder holding a valid DoneFile is complete.
const DoneFile = "done.json"

// ScanRecord is what a finished scan leaves in OUT/<id>/done.json and what the
// batch summary is built from.
type ScanRecord struct {
	// ID is the scan's output id (patient folder name or file stem).
	ID string `json:"id"`
	// Input is the path the scan was read from.
	Input string `json:"input"`
	// SeriesUID is the DICOM SeriesInstanceUID or, for files, the stem.
	SeriesUID string `json:"series_uid"`
	// Cancer is the patient-level cancer probability in [0,1].
	Cancer float64 `json:"cancer"`
	// Candidates is the number of candidates written.
	Candidates int `json:"candidates"`
	// Seconds holds wall time per stage in seconds.
	Seconds map[string]float64 `json:"seconds"`
	// Files lists the output files relative to OUT/<id>/.
	Files []string `json:"files"`
	// Warnings carries the loader's geometry warnings.
	Warnings []string `json:"warnings,omitempty"`
}

// ScanFunc processes one scan: it reads input, writes its outputs into
// scanDir (creating only complete files, atomically) and returns the record
// and the scored candidates.
type ScanFunc func(ctx context.Context, input, scanDir string) (ScanRecord, []candidate.Candidate, error)

// BatchOptions configures RunBatch.
type BatchOptions struct {
	// Workers is how many scans run at once; 0 means DefaultWorkers().
	Workers int
	// Force redoes scans whose outputs are already complete.
	Force bool
	// FallbackCancer is the probability written to submission.csv for a
	// patient whose scan failed; callers normally pass
	// DefaultFallbackCancer (the zero value really means 0).
	FallbackCancer float64
	// Progress, when set, is called after each scan finishes (done counts
	// skipped, succeeded and failed scans).
	Progress func(done, total int, id string, err error)
	// AggregateSuffix is inserted before the extension of the aggregate
	// files (candidates.csv → candidates<suffix>.csv, ...), so that shards
	// of one run writing into the same folder do not overwrite each other.
	AggregateSuffix string
}

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

// DefaultFallbackCancer is the DSB 2017 stage 1 training prevalence
// (362/1397 ≈ 0.26), the constant prediction with the best expected log loss
// for a patient whose scan could not be processed.
const DefaultFallbackCancer = 0.26

// Failure is one failed scan, as written to failures.csv and to the
// failures list of summary.json (keys id, input, error, like the CSV
// header).
type Failure struct {
	ID    string `json:"id"`
	Input string `json:"input"`
	Error string `json:"error"`
}

// BatchSummary is written to OUT/summary.json.
type BatchSummary struct {
	Scans     int       `json:"scans"`
	Succeeded int       `json:"succeeded"`
	Skipped   int       `json:"skipped_complete"`
	Failed    int       `json:"failed"`
	Failures  []Failure `json:"failures"`
	// Seconds sums each stage's wall seconds over all scans, including
	// those completed by an earlier run of the same batch.
	Seconds  map[string]float64 `json:"seconds_total_per_stage"`
	WallSec  float64            `json:"wall_seconds"`
	Workers  int                `json:"workers"`
	Records  []ScanRecord       `json:"-"`
	LogLoss  *float64           `json:"log_loss,omitempty"`
	Labelled int                `json:"labelled,omitempty"`
	Eval     any                `json:"eval,omitempty"`
}

// DefaultWorkers is the default worker count: half the cores (each stage is
// itself parallel), at least 1, and at most one per 2 GiB of memory.
func DefaultWorkers() int {
	n := runtime.NumCPU() / 2
	if n < 1 {
		n = 1
	}
	if mem := totalMemory(); mem > 0 {
		if m := int(mem / (2 << 30)); m < n {
			n = max(1, m)
		}
	}
	return n
}

func totalMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// ReadDone returns the record of a complete scan folder, or an error when
// the folder is missing or incomplete (no valid done.json, or a file it
// lists is gone).
func ReadDone(scanDir string) (ScanRecord, error) {
	var r ScanRecord
	b, err := os.ReadFile(filepath.Join(scanDir, DoneFile))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(scanDir, DoneFile), err)
	}
	for _, f := range r.Files {
		if _, err := os.Stat(filepath.Join(scanDir, f)); err != nil {
			return r, fmt.Errorf("%s: listed output missing: %w", scanDir, err)
		}
	}
	return r, nil
}

// removeStaleTemps deletes temporary files a killed run left (atomicfile's
// ".<name>.tmp-*"); they never carry a final name, but they waste space.
func removeStaleTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// RunBatch processes inputs (see ListScans) into outDir/<id>/ with a worker
// pool, skipping complete scans unless Force, recording failures and going
// on. It then writes outDir/candidates.csv, outDir/submission.csv,
// outDir/failures.csv and outDir/summary.json. The returned summary counts
// failures; the error is non-nil only when the batch itself could not run
// or its aggregate files could not be written.
func RunBatch(ctx context.Context, inputs []string, outDir string, fn ScanFunc, opt BatchOptions) (*BatchSummary, error) {
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers()
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	removeStaleTemps(outDir)
	ids := make([]string, len(inputs))
	seen := map[string]string{}
	for i, in := range inputs {
		ids[i] = ScanID(in)
		if prev, ok := seen[ids[i]]; ok {
			return nil, fmt.Errorf("two inputs share the output id %q: %s and %s", ids[i], prev, in)
		}
		seen[ids[i]] = in
	}
	start := time.Now()
	results := make([]scanResult, len(inputs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < opt.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				dir := filepath.Join(outDir, ids[i])
				var r scanResult
				rec, err := ReadDone(dir)
				var cs []candidate.Candidate
				if err == nil && !opt.Force {
					// A done scan whose candidates no longer parse is
					// incomplete: redo it rather than fail it.
					cs, err = candidate.ReadFile(filepath.Join(dir, "candidates.csv"))
				}
				if err == nil && !opt.Force {
					r = scanResult{rec: rec, cands: cs, skipped: true}
				} else if ctx.Err() != nil {
					r.err = ctx.Err()
				} else {
					r = runOne(ctx, fn, inputs[i], dir)
				}
				results[i] = r
				mu.Lock()
				done++
				d := done
				mu.Unlock()
				if opt.Progress != nil {
					opt.Progress(d, len(inputs), ids[i], r.err)
				}
			}
		}()
	}
	for i := range inputs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	sum := &BatchSummary{Scans: len(inputs), Seconds: map[string]float64{}, Workers: opt.Workers}
	var all []candidate.Candidate
	var sub [][2]string
	for i, r := range results {
		if r.err != nil {
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{ID: ids[i], Input: inputs[i], Error: r.err.Error()})
			sub = append(sub, [2]string{ids[i], strconv.FormatFloat(opt.FallbackCancer, 'f', 6, 64)})
			continue
		}
		if r.skipped {
			sum.Skipped++
		} else {
			sum.Succeeded++
		}
		for k, v := range r.rec.Seconds {
			sum.Seconds[k] += v
		}
		sum.Records = append(sum.Records, r.rec)
		all = append(all, r.cands...)
		sub = append(sub, [2]string{ids[i], strconv.FormatFloat(r.rec.Cancer, 'f', 6, 64)})
	}
	sum.WallSec = time.Since(start).Seconds()
	if sum.Failures == nil {
		sum.Failures = []Failure{}
	}
	if err := candidate.WriteFile(filepath.Join(outDir, suffixed("candidates.csv", opt.AggregateSuffix)), all); err != nil {
		return sum, err
	}
	if err := writeCSV(filepath.Join(outDir, suffixed("submission.csv", opt.AggregateSuffix)), []string{"id", "cancer"}, sub); err != nil {
		return sum, err
	}
	if err := writeFailures(filepath.Join(outDir, suffixed("failures.csv", opt.AggregateSuffix)), sum.Failures); err != nil {
		return sum, err
	}
	if err := WriteJSON(filepath.Join(outDir, suffixed("summary.json", opt.AggregateSuffix)), sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// scanResult is one input's outcome in a batch.
type scanResult struct {
	rec     ScanRecord
	cands   []candidate.Candidate
	err     error
	skipped bool // complete from an earlier run
}

// runOne processes one scan into dir, turning a panic into an error that
// names the input, and writes done.json last.
func runOne(ctx context.Context, fn ScanFunc, input, dir string) (r scanResult) {
	defer func() {
		if p := recover(); p != nil {
			r.err = fmt.Errorf("%s: internal error: %v", input, p)
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err
		return
	}
	removeStaleTemps(dir)
	os.Remove(filepath.Join(dir, DoneFile))
	rec, cs, err := fn(ctx, input, dir)
	if err != nil {
		r.err = err
		return
	}
	if err := candidate.WriteFile(filepath.Join(dir, "candidates.csv"), cs); err != nil {
		r.err = err
		return
	}
	rec.Files = appendUnique(rec.Files, "candidates.csv")
	if err := WriteJSON(filepath.Join(dir, DoneFile), rec); err != nil {
		r.err = err
		return
	}
	r.rec, r.cands = rec, cs
	return
}

func appendUnique(s []string, x string) []string {
	for _, y := range s {
		if y == x {
			return s
		}
	}
	return append(s, x)
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	})
}

func writeCSV(path string, header []string, rows [][2]string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(header)
		for _, r := range rows {
			cw.Write(r[:])
		}
		cw.Flush()
		return cw.Error()
	})
}

func writeFailures(path string, fs []Failure) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "input", "error"})
		for _, f := range fs {
			cw.Write([]string{f.ID, f.Input, f.Error})
		}
		cw.Flush()
		return cw.Error()
	})
}

// ReadLabels reads a Kaggle labels CSV (id,cancer) into a map.
func ReadLabels(path string) (map[string]float64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	rs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rs) == 0 || len(rs[0]) < 2 || rs[0][0] != "id" || rs[0][1] != "cancer" {
		return nil, fmt.Errorf("%s: want header id,cancer", path)
	}
	m := map[string]float64{}
	for i, r := range rs[1:] {
		if len(r) < 2 {
			return nil, fmt.Errorf("%s: line %d: want 2 columns", path, i+2)
		}
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil || (v != 0 && v != 1) {
			return nil, fmt.Errorf("%s: line %d: cancer must be 0 or 1, got %q", path, i+2, r[1])
		}
		m[r[0]] = v
	}
	return m, nil
}

// LogLoss is the Kaggle DSB 2017 metric: mean binary cross-entropy of the
// predictions against labels, with predictions clipped to [1e-15, 1−1e-15].
// Only ids present in both are scored; n is how many.
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
