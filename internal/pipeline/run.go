package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/textsafe"
	"github.com/lungctl/lungctl/internal/volio"
)

// ErrUsage marks a Config that cannot describe a run (the CLI's usage
// errors).
var ErrUsage = errors.New("invalid run configuration")

// ErrInterrupted reports a run stopped by its context before every scan
// had an outcome. Finished scans are complete on disk; the aggregate files
// were not rewritten, so those of the previous run stay in place.
var ErrInterrupted = errors.New("interrupted: rerun the same command to resume")

// Config is one batch run (see Run).
type Config struct {
	// In is the batch input: a folder of scans or one scan (see ListScans).
	In string
	// Out is the output folder. It must not be In; when it lies inside In
	// it is left out of the scans.
	Out string
	// Scan configures each scan's stages when scans run in-process.
	Scan ScanOptions
	// NewScan, when set, returns the in-process scan function of one
	// worker (called once per worker, so it may keep buffers); nil means
	// (&Worker{Opt: Scan}).Process.
	NewScan func() ScanFunc
	// Workers is how many scans run at once (0 = DefaultWorkers()); never
	// more than par.Limit() run at once, whatever it says.
	Workers int
	// Force redoes scans whose outputs are already complete.
	Force bool
	// FallbackCancer is the probability written to submission.csv for a
	// failed scan; callers normally pass DefaultFallbackCancer.
	FallbackCancer float64
	// Shard and Shards select shard Shard of Shards (1-based, see Shard);
	// 0 and 0 mean every scan. A shard's aggregate files are named
	// <name>.shardIofN.<ext>.
	Shard, Shards int
	// Labels is a Kaggle labels CSV (id,cancer): the summary gets the log
	// loss. An id labelled both 0 and 1 is an error; label ids that match
	// no scan, and scans without a label, are warned about.
	Labels string
	// ClinicalFile names the file of Scan.Score.Clinical in messages (rows
	// that no scan used are warned about at the end of the run).
	ClinicalFile string
	// Annotations (and optionally Excluded) are LUNA16 tables: the summary
	// gets FROC/CPM, and froc.json and froc.png are written.
	Annotations, Excluded string
	// Isolate runs each scan in its own process (Child), so that anything
	// that kills it (a panic, a Go runtime fatal error, os.Exit, the
	// kernel's out-of-memory killer) fails that scan alone.
	Isolate bool
	// Child is the scan process to start when Isolate is set.
	Child Child
	// MaxMemory is the memory budget in bytes of the scans that run at
	// once, split equally among them (0 = DefaultMaxMemory()). Each scan's
	// share reaches it through MaxMemoryEnv and GOMEMLIMIT, and a scan
	// process's address space is capped at its share plus 2 GiB.
	MaxMemory int64
	// NoAddressLimit leaves a scan process's address space uncapped (its
	// budget then reaches it through GOMEMLIMIT and MaxMemoryEnv only): a
	// GPU driver reserves far more address space than it uses.
	NoAddressLimit bool
	// Log receives the run's messages (nil = none).
	Log *slog.Logger
	// Progress, when set, is called after each scan's outcome (done
	// counts skipped, succeeded and failed scans).
	Progress func(done, total int, id string, err error)
}

func (c *Config) newScan() ScanFunc {
	if c.NewScan != nil {
		return c.NewScan()
	}
	w := &Worker{Opt: c.Scan}
	return w.Process
}

// Summary is the outcome of Run, and (its exported JSON fields) OUT/summary.json.
type Summary struct {
	ToolVersion string    `json:"tool_version"`
	Scans       int       `json:"scans"`
	Succeeded   int       `json:"succeeded"`
	Skipped     int       `json:"skipped_complete"`
	Failed      int       `json:"failed"`
	Failures    []Failure `json:"failures"`
	// Seconds sums each stage's wall seconds over all scans, including
	// those completed by an earlier run of the same batch.
	Seconds Timings `json:"seconds_total_per_stage"`
	// WallSec is this run's wall time in seconds.
	WallSec float64 `json:"wall_seconds"`
	Workers int     `json:"workers"`
	// Isolated says whether each scan ran in its own process.
	Isolated bool `json:"isolated"`
	// MaxMemoryPerScan is each scan's memory budget in bytes.
	MaxMemoryPerScan int64 `json:"max_memory_per_scan_bytes"`
	// LogLoss is the DSB 2017 log loss against Config.Labels over the
	// Labelled scans; absent when no scan has a label (see Notes).
	LogLoss  *float64 `json:"log_loss,omitempty"`
	Labelled *int     `json:"labelled,omitempty"`
	// Eval is the FROC/CPM against Config.Annotations.
	Eval *EvalSummary `json:"eval,omitempty"`
	// Notes explains metrics that could not be computed, and which
	// --labels and --clinical ids matched no scan.
	Notes []string `json:"notes,omitempty"`
	// Patients are the complete scans' patient-level results, in input
	// order (failed scans are in Failures).
	Patients []PatientSummary `json:"patients"`

	// Records are the complete scans' records, in input order.
	Records []ScanRecord `json:"-"`
	// EvalResult is the full evaluation (nil without annotations).
	EvalResult *eval.Result `json:"-"`
	// Files are the aggregate files' paths.
	Files AggregateFiles `json:"-"`
	// Interrupted counts the scans the run's cancellation left without an
	// outcome.
	Interrupted int `json:"-"`
	// ListWarnings are ListScans' warnings (skipped entries of In).
	ListWarnings []string `json:"-"`
}

// PatientSummary is one complete scan's patient-level result in
// summary.json: what its done.json says about the patient.
type PatientSummary struct {
	ID        string `json:"id"`
	SeriesUID string `json:"series_uid"`
	// CancerProbability in [0,1] (as in submission.csv), by Scorer.
	CancerProbability float64 `json:"cancer_probability"`
	Scorer            string  `json:"scorer,omitempty"`
	// LungRADS is the patient's category; EmphysemaPct the LAA-950 in %.
	LungRADS     string   `json:"lung_rads,omitempty"`
	EmphysemaPct *float64 `json:"emphysema_pct,omitempty"`
	// Candidates and Reported count the scan's candidates and those at or
	// above ReportThreshold.
	Candidates int `json:"candidates"`
	Reported   int `json:"reported_nodules"`
	// ModelSHA256 is the CNN's sha256 when it ran; ToolVersion the lungctl
	// that processed the scan.
	ModelSHA256 string          `json:"model_sha256,omitempty"`
	ToolVersion string          `json:"tool_version"`
	Clinical    *ClinicalRecord `json:"clinical,omitempty"`
}

// patientSummary is r's entry in summary.json.
func patientSummary(r ScanRecord) PatientSummary {
	return PatientSummary{ID: r.ID, SeriesUID: r.SeriesUID, CancerProbability: r.Cancer, Scorer: r.Scorer,
		LungRADS: r.LungRADS, EmphysemaPct: r.EmphysemaPct, Candidates: r.Candidates, Reported: r.Reported,
		ModelSHA256: r.ModelSHA256, ToolVersion: r.ToolVersion, Clinical: r.Clinical}
}

// EvalSummary is the part of an evaluation summary.json carries.
type EvalSummary struct {
	CPM           float64    `json:"cpm"`
	Sensitivity   float64    `json:"sensitivity"`
	FPPerScan     float64    `json:"fp_per_scan"`
	SensitivityAt [7]float64 `json:"sensitivity_at"`
}

// AggregateFiles are the paths of a run's combined outputs (with the
// shard suffix when sharded).
type AggregateFiles struct {
	Candidates, Submission, Failures, Summary, FROCJSON, FROCPNG string
	// Index is the batch report index (written with reports only).
	Index string
}

// Run processes every scan of cfg.In into cfg.Out/<id>/ (see ListScans and
// ScanID), skipping scans a previous run completed unless cfg.Force,
// recording failures and going on, under an exclusive lock on the output
// folder. Then it writes OUT/candidates.csv (every scan's candidates, with
// patient_id), OUT/submission.csv (id,cancer; failed scans get the
// fallback), OUT/failures.csv, with labels the log loss, with annotations
// froc.json and froc.png, and OUT/summary.json last. A run whose context
// is cancelled before every scan has an outcome writes none of them and
// returns ErrInterrupted. The error is otherwise non-nil only when the
// batch itself could not run (ErrUsage, ErrBusy, an unreadable input) or
// its aggregate files could not be written; failed scans are counted in the
// summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ref, err := readReferences(&cfg)
	if err != nil {
		return nil, err
	}
	b, sum, err := prepare(&cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range ref.warnings {
		cfg.Log.Warn(w)
	}
	if ref.labels != nil {
		for _, w := range labelMismatches(cfg.Labels, ref.labels, b.allIDs, b.ids) {
			sum.Notes = append(sum.Notes, w)
			cfg.Log.Warn(w)
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	lock, err := lockOut(cfg.Out, cfg.suffix())
	if err != nil {
		return nil, err
	}
	defer lock.release()
	if lock.Note != "" {
		cfg.Log.Info(lock.Note, "out", cfg.Out)
	}
	b.cleanTemps()
	if err := b.memory(sum); err != nil {
		return nil, err
	}
	cfg.Log.Info("run", "scans", len(b.inputs), "workers", cfg.Workers, "out", cfg.Out, "isolated", cfg.Isolate,
		"max_memory_per_scan", FormatSize(b.perScan))
	start := time.Now()
	b.run(ctx)
	return b.finish(sum, ref, time.Since(start))
}

// setDefaults checks cfg and fills its zero values.
func (c *Config) setDefaults() error {
	if c.Out == "" {
		return fmt.Errorf("%w: no output folder", ErrUsage)
	}
	if c.Workers < 0 || c.MaxMemory < 0 {
		return fmt.Errorf("%w: %d workers, memory budget %d", ErrUsage, c.Workers, c.MaxMemory)
	}
	if !(c.FallbackCancer >= 0 && c.FallbackCancer <= 1) {
		return fmt.Errorf("%w: fallback probability %v is not in [0,1]", ErrUsage, c.FallbackCancer)
	}
	if (c.Shards != 0 || c.Shard != 0) && (c.Shards < 1 || c.Shard < 1 || c.Shard > c.Shards) {
		return fmt.Errorf("%w: shard %d/%d: want 1 <= i <= n", ErrUsage, c.Shard, c.Shards)
	}
	if c.Isolate && c.Child.Path == "" {
		return fmt.Errorf("%w: isolated scans need the scan process's executable", ErrUsage)
	}
	if in, e1 := os.Stat(c.In); e1 == nil {
		if out, e2 := os.Stat(c.Out); e2 == nil && os.SameFile(in, out) {
			return fmt.Errorf("%w: the output folder %s is the input folder", ErrUsage, c.Out)
		}
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers()
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = DefaultMaxMemory()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

func (c *Config) suffix() string {
	if c.Shards == 0 {
		return ""
	}
	return fmt.Sprintf(".shard%dof%d", c.Shard, c.Shards)
}

// references are the tables a run is scored against, read before any work.
type references struct {
	labels        map[string]float64
	ann, excluded []eval.Annotation
	// warnings are the tables' (labels given twice).
	warnings []string
}

func readReferences(cfg *Config) (references, error) {
	var r references
	var err error
	if cfg.Labels != "" {
		if r.labels, r.warnings, err = ReadLabels(cfg.Labels); err != nil {
			return r, err
		}
	}
	if cfg.Annotations != "" {
		// As eval reads them: a negative diameter is refused here (only
		// the excluded file's -1 means unknown).
		t, err := eval.ReadTruth(cfg.Annotations)
		if err != nil {
			return r, err
		}
		for _, row := range t.Rows {
			r.ann = append(r.ann, row.Annotation)
		}
	}
	if cfg.Excluded != "" {
		if r.excluded, err = eval.ReadAnnotations(cfg.Excluded); err != nil {
			return r, err
		}
	}
	return r, nil
}

// prepare lists and shards the scans and gives each its id and folder.
func prepare(cfg *Config) (*batch, *Summary, error) {
	inputs, warns, err := ListScans(cfg.In, cfg.Out)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range warns {
		cfg.Log.Warn(w)
	}
	all := make([]string, len(inputs))
	for i, in := range inputs {
		all[i] = ScanID(in)
	}
	if cfg.Shards > 0 {
		if inputs, err = Shard(inputs, cfg.Shard, cfg.Shards); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	b := &batch{cfg: cfg, inputs: inputs, ids: make([]string, len(inputs)), dirs: make([]string, len(inputs)),
		dirErr: make([]error, len(inputs)), results: make([]scanResult, len(inputs)), settings: cfg.Scan.settings(), allIDs: all}
	seen := map[string]string{}
	for i, in := range inputs {
		b.ids[i] = ScanID(in)
		if prev, ok := seen[b.ids[i]]; ok {
			return nil, nil, fmt.Errorf("two inputs share the output id %q: %s and %s", b.ids[i],
				textsafe.Escape(prev), textsafe.Escape(in))
		}
		seen[b.ids[i]] = in
		b.dirs[i], b.dirErr[i] = scanDir(cfg.Out, b.ids[i])
	}
	sum := &Summary{ToolVersion: volio.ToolVersion, Scans: len(inputs), Seconds: Timings{}, Workers: cfg.Workers,
		Isolated: cfg.Isolate, Failures: []Failure{}, Patients: []PatientSummary{}, ListWarnings: warns}
	s := cfg.suffix()
	for _, f := range []struct {
		dst  *string
		name string
	}{{&sum.Files.Candidates, CandidatesFile}, {&sum.Files.Submission, "submission.csv"},
		{&sum.Files.Failures, "failures.csv"}, {&sum.Files.Summary, "summary.json"},
		{&sum.Files.FROCJSON, "froc.json"}, {&sum.Files.FROCPNG, "froc.png"}, {&sum.Files.Index, IndexFile}} {
		if *f.dst, err = outPath(cfg.Out, suffixed(f.name, s)); err != nil {
			return nil, nil, err
		}
	}
	return b, sum, nil
}

// cleanTemps deletes the temporaries a killed run left: in the output
// folder (a shard: only those of its own aggregate files) and in each of
// this batch's scan folders.
func (b *batch) cleanTemps() {
	if s := b.cfg.suffix(); s != "" {
		var own []string
		for _, n := range []string{CandidatesFile, "submission.csv", "failures.csv", "summary.json", "froc.json", "froc.png", IndexFile} {
			own = append(own, suffixed(n, s))
		}
		removeStaleTemps(b.cfg.Out, own...)
	} else {
		removeStaleTemps(b.cfg.Out)
	}
	for i, d := range b.dirs {
		if b.dirErr[i] == nil {
			removeStaleTemps(d)
		}
	}
}

// memory splits the budget among the scans that run at once and sets up
// how each gets its share.
func (b *batch) memory(sum *Summary) error {
	conc := int64(max(1, min(b.cfg.Workers, par.Limit(), len(b.inputs))))
	b.perScan = b.cfg.MaxMemory / conc
	if b.cfg.MaxMemory > 0 && b.perScan < MinScanMemory {
		return fmt.Errorf("%w: a memory budget of %s over %d scans at once leaves %s each; want at least %s",
			ErrUsage, FormatSize(b.cfg.MaxMemory), conc, FormatSize(b.perScan), FormatSize(MinScanMemory))
	}
	sum.MaxMemoryPerScan = b.perScan
	if b.cfg.Isolate {
		threads := max(1, par.Limit()/int(conc))
		b.env = append(scanMemoryEnv(b.perScan), "GOMAXPROCS="+strconv.Itoa(threads))
		if b.cfg.NoAddressLimit {
			b.env = append(b.env, noAddressLimitEnv+"=1")
		}
		return nil
	}
	if b.perScan > 0 {
		// In one process the scans' readers share the whole budget (the
		// environment variable is for code that reads it later).
		if err := os.Setenv(MaxMemoryEnv, strconv.FormatInt(b.perScan, 10)); err != nil {
			return fmt.Errorf("pipeline: set %s: %w", MaxMemoryEnv, err)
		}
		membudget.Set(uint64(b.cfg.MaxMemory))
		debug.SetMemoryLimit(b.cfg.MaxMemory)
	}
	return nil
}
