package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// progress draws a bar with ETA on a terminal (text logs only) and log
// lines otherwise.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	start    time.Time
	last     time.Time
	failures int
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		p.tty = isTerminal(f) && gf.logFormat != "json"
	}
	return p
}

// draw writes to the terminal's progress line. The bar is a courtesy: a
// failed write (the terminal went away) must not fail the work it shows, so
// the error is ignored; the log lines and the exit status carry the outcome.
func (p *progress) draw(format string, a ...any) {
	_, _ = fmt.Fprintf(p.w, format, a...)
}

func (p *progress) update(done, total int, id string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failures++
	}
	el := time.Since(p.start)
	eta := time.Duration(0)
	if done > 0 {
		eta = time.Duration(float64(el) / float64(done) * float64(total-done))
	}
	if p.tty && !gf.quiet {
		const width = 30
		n := width * done / max(total, 1)
		bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
		p.draw("\r%s %d/%d scans, %d failed, elapsed %s, ETA %s  ", bar, done, total, p.failures,
			el.Round(time.Second), eta.Round(time.Second))
		if done == total {
			p.draw("\n")
		}
		return
	}
	// Plain lines: every scan on small runs, else at most every 10 s.
	if total <= 50 || done == total || time.Since(p.last) > 10*time.Second || err != nil {
		p.last = time.Now()
		status := "ok"
		if err != nil {
			status = "failed: " + err.Error()
		}
		logger.Info("progress", "done", done, "total", total, "failed", p.failures, "scan", id, "status", status,
			"elapsed_s", int(el.Seconds()), "eta_s", int(eta.Seconds()))
	}
}

// runFlags are run's own flags (the scan flags aside).
type runFlags struct {
	out, labels, annotations, excluded, shard string
	workers                                   int
	force, isolate                            bool
	fallback                                  float64
}

// config checks every flag and builds the run's configuration; nothing is
// read or written yet.
func (f *runFlags) config(in string, sf *scanFlags) (pipeline.Config, error) {
	cfg := pipeline.Config{In: in, Out: f.out, Workers: f.workers, Force: f.force, FallbackCancer: f.fallback,
		Labels: f.labels, Annotations: f.annotations, Excluded: f.excluded, Isolate: f.isolate, Log: logger}
	if err := firstErr(folderOut("run", "-o", f.out), checkInt("jobs", f.workers, 0, 1024),
		checkFloat("fallback", f.fallback, 0, 1)); err != nil {
		return cfg, err
	}
	if f.excluded != "" && f.annotations == "" {
		return cfg, usagef("run: --excluded needs --annotations")
	}
	var err error
	if cfg.Shard, cfg.Shards, err = parseShard(f.shard); err != nil {
		return cfg, err
	}
	if cfg.MaxMemory, err = runMemory(); err != nil {
		return cfg, err
	}
	opt, err := sf.options()
	if err != nil {
		return cfg, err
	}
	cfg.Scan = opt
	cfg.ClinicalFile = sf.cf.clinical
	// The CUDA driver reserves tens of GiB of address space: cap scans
	// with GOMEMLIMIT and the readers' budget only.
	cfg.NoAddressLimit = strings.HasPrefix(opt.Detect.Cluster.Backend.Name(), "cuda")
	cfg.NewScan = func() pipeline.ScanFunc {
		w := &pipeline.Worker{Opt: opt}
		return hooked(w.Process)
	}
	if f.isolate {
		exe, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("run: cannot find lungctl's own executable for the scan processes (--isolate=false runs in-process): %w", err)
		}
		cfg.Child = pipeline.Child{Path: exe, Args: sf.childArgs()}
	}
	return cfg, nil
}

func newRunCmd() *cobra.Command {
	var sf scanFlags
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "run IN -o OUT",
		Short: "preprocess -> detect -> characterise and score over a folder of scans (resumable, one process per scan)",
		Long:  runLong,
		Example: `  lungctl run stage1/ -o out/ -j 2
  lungctl run stage1/ -o out/ --labels stage1_labels.csv --clinical clinical.csv
  lungctl run ../shared/data/lidc-idri-0001 -o out/ --report --export --snapshots 5
  lungctl run subset0/ -o out/ --annotations annotations.csv --excluded annotations_excluded.csv
  lungctl run subset9/ -o out/ --model luna.lcnn --scorer fused
  lungctl run stage1/ -o /shared/out --shard $SLURM_ARRAY_TASK_ID/16   # one shard per array job`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := rf.config(args[0], &sf)
			if err != nil {
				return err
			}
			pr := newProgress(cmd.ErrOrStderr())
			cfg.Progress = pr.update
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			context.AfterFunc(ctx, stop) // a second Ctrl-C kills at once
			sum, err := pipeline.Run(ctx, cfg)
			return reportRun(cmd, sum, err)
		},
	}
	sf.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&rf.out, "out", "o", "", "output folder (required)")
	f.IntVarP(&rf.workers, "jobs", "j", 0, "scans processed at once, 0-1024 (0 = half the cores, at most one per 2 GiB of memory); never more than --threads run at once")
	f.BoolVar(&rf.force, "force", false, "redo scans whose outputs are already complete")
	f.Float64Var(&rf.fallback, "fallback", pipeline.DefaultFallbackCancer, "cancer probability written for a scan that failed, 0 to 1")
	f.StringVar(&rf.shard, "shard", "", "process only shard i/n of the scans (e.g. 2/8, 1 <= i <= n) for multi-machine runs")
	f.StringVar(&rf.labels, "labels", "", "Kaggle labels CSV (id,cancer): report log loss")
	f.StringVar(&rf.annotations, "annotations", "", "LUNA16 annotations CSV: run the FROC/CPM evaluation")
	f.StringVar(&rf.excluded, "excluded", "", "LUNA16 excluded-findings CSV for --annotations")
	f.BoolVar(&rf.isolate, "isolate", true, "run each scan in its own process (false: in run's process, for debugging; a crash then ends the run)")
	return cmd
}

// runMemory is run's budget for the scans running at once, in bytes: the
// global --max-memory, else $LUNGCTL_MAX_MEMORY (the same syntax, so the
// flag and the variable agree), else 0 (pipeline.DefaultMaxMemory). Below
// pipeline.MinScanMemory is a usage error.
func runMemory() (int64, error) {
	v, what := gf.maxMemory, "--max-memory"
	if v == "" {
		v, what = strings.TrimSpace(os.Getenv(membudget.EnvVar)), "$"+membudget.EnvVar
	}
	if v == "" {
		return 0, nil
	}
	n, err := membudget.Parse(v)
	if err != nil || n < pipeline.MinScanMemory || n > math.MaxInt64 {
		return 0, usagef("%s %q: want a size of at least 256MiB, e.g. 8GiB", what, v)
	}
	return int64(n), nil
}

// reportRun prints the outcome of a run and picks its exit status.
func reportRun(cmd *cobra.Command, sum *pipeline.Summary, err error) error {
	if errors.Is(err, pipeline.ErrUsage) {
		return usageError{err}
	}
	if sum == nil {
		return err
	}
	if sum.EvalResult != nil {
		pr := newPrinter(cmd.OutOrStdout())
		pr.Print(sum.EvalResult.Summary())
		if perr := pr.Err(); perr != nil && err == nil {
			err = perr
		}
	}
	logger.Info("run finished", "scans", sum.Scans, "done", sum.Succeeded, "skipped_complete", sum.Skipped,
		"failed", sum.Failed, "wall_s", math.Round(sum.WallSec*10)/10, "seconds_total", sum.Seconds)
	for _, f := range sum.Failures {
		logger.Warn("scan failed", "id", f.ID, "error", f.Error)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 && sum.Succeeded+sum.Skipped == 0 {
		// Nothing succeeded: the submission is all fallback values, which
		// a script accepting exit 3 would take for results.
		return fmt.Errorf("every scan failed: %d of %d (see %s); %s holds only the --fallback probability",
			sum.Failed, sum.Scans, sum.Files.Failures, sum.Files.Submission)
	}
	if sum.Failed > 0 {
		return partialError{failed: sum.Failed, total: sum.Scans, file: sum.Files.Failures}
	}
	return nil
}

// runLong is the command's --help text.
const runLong = `run processes every scan under IN: a folder of patient folders (Kaggle
stage1/<patient>/*.dcm), a folder of .mhd files (LUNA16 subsetN/), a folder of
.nii.gz files, or one scan. Symbolic links are followed (a link that loops
back is skipped); FIFOs, sockets and devices, and hidden folders and scan
files (a name starting with a dot), are skipped with a warning; OUT, when
inside IN, is not a scan. -j scans run at once; each writes to OUT/<id>/.
<id> is the folder or file name made safe (control characters and separators
become _, leading dots _).

Each scan is preprocessed, its candidates detected and measured, and
characterised (upper zone, Lung-RADS per nodule and per patient, emphysema as
LAA-950, read at a standard scan's 20 HU of noise) and scored with --scorer: brock (default: the Brock/PanCan model on
the measurements and the patient's age, sex, family history and emphysema),
cnn (the 3-D CNN; the embedded model knows phantoms only, and run warns) or
fused (their mean when the model's card says it was trained on patients, else
Brock). Covariates come from the DICOM header (PatientAge, PatientSex) and
--clinical (id,age,sex,family_history,emphysema; it overrides the header);
unknown ones get the model's documented defaults, listed in done.json. The CNN
runs only when the scorer needs it or --cnn asks for its column. --clinical ids
that no scan used, --labels ids that match no scan and scans without a label
are warned about (and listed in summary.json's notes); an id labelled both 0
and 1 is an error.

  OUT/<id>/candidates.csv    the scan's candidates, measurements and scores
  OUT/<id>/done.json         cancer_probability, scorer, lung_rads, emphysema_pct,
                             clinical (values, sources, defaulted), model_sha256
                             (when the CNN ran), patient_id, settings, files,
                             warnings ([] when none), seconds; written last
  --volumes    <id>.nii.gz, <id>_lung.nii.gz, <id>.json (1 mm volumes)
  --snapshots  <id>_candNN.png by malignancy x detection score, <id>_overview.png
  --export     <id>_findings.mrk.json (3D Slicer), <id>_labels.nii.gz (label map,
               value = candidate rank) and, for DICOM inputs, <id>_seg.dcm (DICOM
               SEG) and <id>_sr.dcm (TID 1500 SR) in the source study
  --report     <id>_report.html (self-contained) and OUT/index.html

Then:

  OUT/candidates.csv  every scan's candidates (LUNA16 columns first, patient_id after)
  OUT/submission.csv  id,cancer for every input scan (Kaggle DSB 2017); a failed
                      scan gets --fallback (0.26, the stage 1 prevalence)
  OUT/failures.csv    id,input,error of each failed scan
  OUT/summary.json    counts, seconds per stage, failures, each patient's results,
                      log loss/FROC if asked

Each scan runs in its own lungctl process, so whatever kills it (a crash, a Go
runtime fatal error, running out of memory) fails that scan alone: one
failures.csv row, and the batch goes on. A scan may use --max-memory (or
$LUNGCTL_MAX_MEMORY) divided by the scans running at once (default: 75% of the
machine's memory, or of its container's limit); above that it fails as "out of
memory". --isolate=false runs scans inside run's own process, for debugging.

A scan whose done.json is complete, with every output the flags ask for, is
skipped on the next run (--force redoes it), so an interrupted run resumes
where it stopped and a rerun with --report or --export adds what is missing;
files are only ever renamed into place complete. A done.json that lacks a
field or holds an invalid value, or whose settings (done.json's "settings":
--scorer, the model's sha256 when the CNN runs, --top-k, --leak, the scan's
--clinical row, --spacing, --series and the detection flags but --device)
differ from the run's, is redone, and the log says why (a done.json written
before lungctl recorded settings is checked on its scorer, model_sha256 and
--clinical covariates); the aggregate files are always rewritten from every
scan's done.json. A redone scan's earlier outputs (the files its old
done.json lists, regular files in OUT/<id>/ only) are removed before it runs
again, so none of the old settings' reports, pictures or volumes stay; an
OUT/index.html is rewritten by every --report run, and by a run without
--report that redid or failed a scan (redone scans without a report are then
listed unlinked). An interrupted run (Ctrl-C)
leaves the previous aggregate files as they were. Two runs cannot write the
same OUT at once (the second exits 1 naming the first); a lock left by a
killed run is taken over.

To spread a run over machines, give each --shard i/n (every n-th scan from the
i-th) and the same OUT on shared storage: per-scan folders do not collide and
the aggregate files get a .shardIofN suffix. A final run without --shard skips
every finished scan, tries the scans a shard failed once more, and writes the
combined aggregates. A shard leaves OUT/.lungctl.lock (which it holds shared)
in place; the next run takes it over. Exit code 0: all scans
done; 3: some failed (listed in failures.csv), at least one succeeded; 1: every
scan failed (failures.csv and the aggregate files are still written; the
submission is all --fallback), or the run itself failed or was interrupted;
2: a bad flag or argument.`
