package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var (
		out   string
		count int
		seed  int64
		size  string
		snaps int
	)
	cmd := &cobra.Command{
		Use:   "demo [-o DIR]",
		Short: "Synthetic patients through the whole pipeline, scored against their truth (no downloads)",
		Long: `demo writes --count synthetic chest CT patients as DICOM series (see 'lungctl
phantom'), runs preprocess -> detect -> classify on each exactly as 'lungctl run'
does, and prints every true nodule with whether it was found (LUNA16 rule:
within its radius), its rank and scores, the false positives, the LUNA16
FROC/CPM and each patient's cancer probability against the truth (a patient
has cancer when any nodule is malignant). Everything lands in DIR.`,
		Example: `  lungctl demo                 # 3 patients into ./lungctl-demo
  lungctl demo -o /tmp/d --count 5 --seed 42 --snapshots 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sz := phantom.Full
			if size == "small" {
				sz = phantom.Small
			} else if size != "full" {
				return usagef("--size must be small or full")
			}
			if count < 1 {
				return usagef("--count must be at least 1")
			}
			scans := filepath.Join(out, "phantoms")
			res := filepath.Join(out, "results")
			if err := os.MkdirAll(scans, 0o755); err != nil {
				return err
			}
			var truth []phantom.TruthRow
			chests := map[string]*phantom.Chest{}
			var inputs []string
			for i := 0; i < count; i++ {
				c, dir, err := writePhantom(scans, phantom.Options{Seed: seed + int64(i), Size: sz})
				if err != nil {
					return err
				}
				chests[c.SeriesUID] = c
				inputs = append(inputs, dir)
				for _, n := range c.Nodules {
					truth = append(truth, phantom.TruthRow{SeriesUID: c.SeriesUID, Nodule: n})
				}
				// Keep only what the report needs: the truth, not the voxels.
				c.HU, c.Lung = nil, nil
			}
			truthPath := filepath.Join(out, "truth.csv")
			if err := phantom.WriteTruthRows(truthPath, truth); err != nil {
				return err
			}
			logger.Info("wrote phantoms", "dir", scans, "patients", count, "nodules", len(truth))

			m, err := (&classifyFlags{}).load()
			if err != nil {
				return err
			}
			var df detectFlags
			dopt, err := df.defaults()
			if err != nil {
				return err
			}
			w := &pipeline.Worker{Opt: pipeline.ScanOptions{Detect: dopt, Model: m, Snapshots: snaps,
				NoisyORK: 5, NoisyORLeak: 0.02}}
			pr := newProgress(cmd.ErrOrStderr())
			sum, err := pipeline.RunBatch(context.Background(), inputs, res, w.Process,
				pipeline.BatchOptions{Workers: 1, Force: true, Progress: pr.update, FallbackCancer: pipeline.DefaultFallbackCancer})
			if err != nil {
				return err
			}
			cs, err := candidate.ReadFile(filepath.Join(res, "candidates.csv"))
			if err != nil {
				return err
			}
			return demoReport(cmd, sum, cs, truth, chests, res)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "lungctl-demo", "folder for the phantoms and results")
	cmd.Flags().IntVar(&count, "count", 3, "number of synthetic patients")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the first patient")
	cmd.Flags().StringVar(&size, "size", "full", "phantom size: full (512x512, 0.70 mm) or small (128x128, 2.5 mm)")
	cmd.Flags().IntVar(&snaps, "snapshots", 3, "PNGs of the top N candidates per patient (0 = none)")
	return cmd
}

func demoReport(cmd *cobra.Command, sum *pipeline.BatchSummary, cs []candidate.Candidate, truth []phantom.TruthRow,
	chests map[string]*phantom.Chest, res string) error {
	o := cmd.OutOrStdout()
	tw := tabwriter.NewWriter(o, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "patient\tnodule\tkind\tdiam_mm\tmalignant\tfound\trank\tdist_mm\tdetect\tmalignancy")
	byScan := map[string][]candidate.Candidate{}
	for _, c := range cs {
		byScan[c.SeriesUID] = append(byScan[c.SeriesUID], c)
	}
	for uid := range byScan {
		candidate.SortByProbability(byScan[uid])
	}
	found := 0
	for i, t := range truth {
		rank, dist := -1, math.Inf(1)
		var hit candidate.Candidate
		for r, c := range byScan[t.SeriesUID] {
			d := math.Sqrt(sq(c.World[0]-t.World[0]) + sq(c.World[1]-t.World[1]) + sq(c.World[2]-t.World[2]))
			if d < t.DiameterMM/2 && rank < 0 {
				rank, dist, hit = r+1, d, c
			}
		}
		pid := chests[t.SeriesUID].PatientID
		if rank < 0 {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%v\tno\t-\t-\t-\t-\n", pid, i+1, t.Kind, t.DiameterMM, t.Malignant)
			continue
		}
		found++
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%v\tyes\t%d\t%.1f\t%.2f\t%.2f\n", pid, i+1, t.Kind, t.DiameterMM, t.Malignant,
			rank, dist, hit.DetectScore, hit.Malignancy)
	}
	tw.Flush()
	fmt.Fprintf(o, "\nfound %d of %d nodules; %d candidates in all\n\n", found, len(truth), len(cs))

	var ann []eval.Annotation
	for _, t := range truth {
		ann = append(ann, eval.Annotation{SeriesUID: t.SeriesUID, World: t.World, DiameterMM: t.DiameterMM})
	}
	var scans []string
	for uid := range chests {
		scans = append(scans, uid)
	}
	sort.Strings(scans)
	r, err := eval.Evaluate(ann, nil, scans, cs, eval.Options{Name: "demo"})
	if err != nil {
		return err
	}
	fmt.Fprint(o, r.Summary())
	if err := eval.PlotFROC(filepath.Join(res, "froc.png"), r); err != nil {
		return err
	}
	fmt.Fprintln(o)
	tw = tabwriter.NewWriter(o, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "patient\tcancer (truth)\tcancer probability")
	for _, rec := range sum.Records {
		c := chests[rec.SeriesUID]
		has := false
		for _, n := range c.Nodules {
			has = has || n.Malignant
		}
		fmt.Fprintf(tw, "%s\t%v\t%.3f\n", c.PatientID, has, rec.Cancer)
	}
	tw.Flush()
	fmt.Fprintf(o, "\nresults: %s (candidates.csv, submission.csv, froc.png, per-patient PNGs)\n", res)
	return nil
}

func sq(x float64) float64 { return x * x }
