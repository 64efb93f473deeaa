package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// progress draws a bar with ETA on a terminal and plain lines otherwise.
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
		p.tty = isTerminal(f)
	}
	return p
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
		fmt.Fprintf(p.w, "\r%s %d/%d scans, %d failed, elapsed %s, ETA %s  ", bar, done, total, p.failures,
			el.Round(time.Second), eta.Round(time.Second))
		if done == total {
			fmt.Fprintln(p.w)
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

func newRunCmd() *cobra.Command {
	var pf preprocessFlags
	var df detectFlags
	var cf classifyFlags
	var (
		out, labels, annotations, excluded string
		workers, snaps                     int
		force, volumes, noClassify         bool
		shard                              string
		fallback                           float64
	)
	cmd := &cobra.Command{
		Use:   "run IN -o OUT",
		Short: "preprocess -> detect -> classify over a folder of scans (resumable)",
		Long: `run processes every scan under IN: a folder of patient folders (Kaggle
stage1/<patient>/*.dcm), a folder of .mhd files (LUNA16 subsetN/), a folder of
.nii.gz files, or one scan. Scans run in a pool of -j workers; each writes to
OUT/<id>/ (candidates.csv with malignancy, done.json; with --volumes the 1 mm
NIfTI volumes; with --snapshots PNGs). Then:

  OUT/candidates.csv  every scan's candidates (LUNA16 columns first)
  OUT/submission.csv  id,cancer for every input scan (Kaggle DSB 2017); a failed
                      scan gets --fallback (0.26, the stage 1 prevalence)
  OUT/failures.csv    id,input,error of each failed scan
  OUT/summary.json    counts, seconds per stage, failures, log loss/FROC if asked

A scan whose done.json is complete is skipped on the next run (--force redoes
it), so an interrupted run resumes where it stopped; files are only ever
renamed into place complete.

To spread a run over machines, give each --shard i/n (every n-th scan from the
i-th) and the same OUT on shared storage: per-scan folders do not collide and
the aggregate files get a .shardIofN suffix. A final run without --shard skips
every finished scan and writes the combined aggregates. Exit code 0: all scans done; 3: some failed
(listed in failures.csv); 1: the run itself failed.`,
		Example: `  lungctl run stage1/ -o out/ -j 2
  lungctl run stage1/ -o out/ --labels stage1_labels.csv
  lungctl run subset0/ -o out/ --annotations annotations.csv --excluded annotations_excluded.csv
  lungctl run ../shared/data/lidc-idri-0001 -o out/ --snapshots 5
  lungctl run stage1/ -o /shared/out --shard $SLURM_ARRAY_TASK_ID/16   # one shard per array job`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("run: -o OUT is required")
			}
			popt, err := pf.options()
			if err != nil {
				return err
			}
			dopt, err := df.options()
			if err != nil {
				return err
			}
			var opt pipeline.ScanOptions
			opt.Preprocess, opt.Detect = popt, dopt
			opt.NoisyORK, opt.NoisyORLeak = cf.k, cf.leak
			opt.WriteVolumes, opt.Snapshots = volumes, snaps
			if !noClassify {
				if opt.Model, err = cf.load(); err != nil {
					return err
				}
			}
			var lab map[string]float64
			if labels != "" {
				if lab, err = pipeline.ReadLabels(labels); err != nil {
					return err
				}
			}
			inputs, err := pipeline.ListScans(args[0])
			if err != nil {
				return err
			}
			suffix := ""
			if shard != "" {
				var i, n int
				if _, err := fmt.Sscanf(shard, "%d/%d", &i, &n); err != nil {
					return usagef("--shard wants i/n, e.g. 2/8, not %q", shard)
				}
				if inputs, err = pipeline.Shard(inputs, i, n); err != nil {
					return usageError{err}
				}
				suffix = fmt.Sprintf(".shard%dof%d", i, n)
			}
			if workers <= 0 {
				workers = pipeline.DefaultWorkers()
			}
			logger.Info("run", "scans", len(inputs), "workers", workers, "out", out)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// One Worker (with its reusable volume buffers) per pool slot.
			free := make(chan *pipeline.Worker, workers)
			for i := 0; i < workers; i++ {
				free <- &pipeline.Worker{Opt: opt}
			}
			fn := func(ctx context.Context, in, dir string) (pipeline.ScanRecord, []candidateT, error) {
				w := <-free
				defer func() { free <- w }()
				return w.Process(ctx, in, dir)
			}
			pr := newProgress(cmd.ErrOrStderr())
			sum, err := pipeline.RunBatch(ctx, inputs, out, fn, pipeline.BatchOptions{Workers: workers, Force: force,
				FallbackCancer: fallback, Progress: pr.update, AggregateSuffix: suffix})
			if err != nil {
				return err
			}
			if lab != nil {
				pred := map[string]float64{}
				for _, r := range sum.Records {
					pred[r.ID] = r.Cancer
				}
				for _, f := range sum.Failures {
					pred[f.ID] = fallback
				}
				ll, n := pipeline.LogLoss(pred, lab)
				sum.LogLoss, sum.Labelled = &ll, n
				logger.Info("log loss", "value", fmt.Sprintf("%.5f", ll), "labelled_scans", n)
			}
			if annotations != "" {
				var scans []string
				for _, r := range sum.Records {
					scans = append(scans, r.SeriesUID)
				}
				r, err := evaluate(annotations, excluded, "", scans, filepath.Join(out, "candidates"+suffix+".csv"),
					eval.Options{Name: "lungctl run"})
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), r.Summary())
				if err := eval.WriteJSON(filepath.Join(out, "froc"+suffix+".json"), r); err != nil {
					return err
				}
				if err := eval.PlotFROC(filepath.Join(out, "froc"+suffix+".png"), r); err != nil {
					return err
				}
				sum.Eval = map[string]any{"cpm": r.CPM, "sensitivity": r.Sensitivity, "fp_per_scan": r.FPPerScan,
					"sensitivity_at": r.SensitivityAt}
			}
			if lab != nil || annotations != "" {
				if err := pipeline.WriteJSON(filepath.Join(out, "summary"+suffix+".json"), sum); err != nil {
					return err
				}
			}
			logger.Info("run finished", "scans", sum.Scans, "done", sum.Succeeded, "skipped_complete", sum.Skipped,
				"failed", sum.Failed, "wall_s", fmt.Sprintf("%.1f", sum.WallSec))
			for _, f := range sum.Failures {
				logger.Warn("scan failed", "id", f.ID, "error", f.Error)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: rerun the same command to resume")
			}
			if sum.Failed > 0 {
				return partialError{failed: sum.Failed, total: sum.Scans}
			}
			return nil
		},
	}
	pf.add(cmd)
	df.add(cmd)
	cf.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "output folder")
	f.IntVarP(&workers, "jobs", "j", 0, "scans processed at once (0 = half the cores, at most one per 2 GiB of memory)")
	f.BoolVar(&force, "force", false, "redo scans whose outputs are already complete")
	f.BoolVar(&volumes, "volumes", false, "also keep each scan's 1 mm HU volume, lung mask and provenance JSON")
	f.IntVar(&snaps, "snapshots", 0, "PNGs of the top N candidates of each scan and an overview (0 = none)")
	f.BoolVar(&noClassify, "no-classify", false, "skip the CNN (malignancy empty, cancer = --leak)")
	f.Float64Var(&fallback, "fallback", pipeline.DefaultFallbackCancer, "cancer probability written for a scan that failed")
	f.StringVar(&shard, "shard", "", "process only shard i/n of the scans (e.g. 2/8) for multi-machine runs")
	f.StringVar(&labels, "labels", "", "Kaggle labels CSV (id,cancer): report log loss")
	f.StringVar(&annotations, "annotations", "", "LUNA16 annotations CSV: run the FROC/CPM evaluation")
	f.StringVar(&excluded, "excluded", "", "LUNA16 excluded-findings CSV for --annotations")
	return cmd
}
