package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/lungctl/lungctl/internal/atomicfile"
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
phantom'), runs preprocess -> detect -> characterise and score on each exactly
as 'lungctl run' does (Brock, the default scorer, with the phantom-trained CNN's
column beside it: phantoms are its domain), and prints every true nodule with
whether it was found (LUNA16 rule: within its radius), its rank, detection
score, Brock and CNN probabilities, the LUNA16 FROC/CPM and each patient's
cancer probability against the truth (a patient has cancer when any nodule is
malignant). Everything lands in DIR: a new or empty folder, or an earlier
demo's (it holds .lungctl-demo), whose phantoms/, results/ and truth.csv are
replaced; any other folder with files in it is refused.`,
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
			if err := firstErr(folderOut("demo", "-o", out), checkInt("count", count, 1, 100),
				checkInt("snapshots", snaps, 0, 100)); err != nil {
				return err
			}
			scans := filepath.Join(out, "phantoms")
			res := filepath.Join(out, "results")
			if err := demoOut(out, scans, res); err != nil {
				return err
			}
			if err := os.MkdirAll(scans, 0o755); err != nil {
				return err
			}
			var truth []phantom.TruthRow
			chests := map[string]*phantom.Chest{}
			for i := 0; i < count; i++ {
				c, _, err := writePhantom(scans, phantom.Options{Seed: seed + int64(i), Size: sz})
				if err != nil {
					return err
				}
				chests[c.SeriesUID] = c
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
			sum, err := demoRun(cmd, scans, res, snaps)
			if err != nil {
				return err
			}
			cs, err := candidate.ReadFile(sum.Files.Candidates)
			if err != nil {
				return err
			}
			return demoReport(cmd, sum, cs, truth, chests, res)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "lungctl-demo", "folder for the phantoms and results")
	cmd.Flags().IntVar(&count, "count", 3, "number of synthetic patients, 1-100")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the first patient")
	cmd.Flags().StringVar(&size, "size", "full", "phantom size: full (512x512, 0.70 mm) or small (128x128, 2.5 mm)")
	cmd.Flags().IntVar(&snaps, "snapshots", 3, "PNGs of the top N candidates per patient, 0-100 (0 = none)")
	return cmd
}

// demoRun runs the phantoms exactly as 'lungctl run' would: one scan
// process per patient, default settings, every scan redone.
func demoRun(cmd *cobra.Command, scans, res string, snaps int) (*pipeline.Summary, error) {
	sf := defaultScanFlags()
	sf.snaps = snaps
	sf.cf.cnn = true // phantoms are the embedded CNN's own domain: show its column beside Brock's
	rf := runFlags{out: res, workers: 1, force: true, isolate: true, fallback: pipeline.DefaultFallbackCancer}
	cfg, err := rf.config(scans, &sf)
	if err != nil {
		return nil, err
	}
	cfg.Progress = newProgress(cmd.ErrOrStderr()).update
	sum, err := pipeline.Run(cmd.Context(), cfg)
	if err == nil && sum.Failed > 0 {
		err = fmt.Errorf("demo: %d of %d phantoms failed: %s", sum.Failed, sum.Scans, sum.Failures[0].Error)
	}
	return sum, err
}

// demoReport prints each true nodule with whether it was found, by the
// LUNA16 hit rule of internal/eval (the candidate nearest in rank within the
// nodule's radius), the FROC/CPM and each patient's probability.
func demoReport(cmd *cobra.Command, sum *pipeline.Summary, cs []candidate.Candidate, truth []phantom.TruthRow,
	chests map[string]*phantom.Chest, res string) error {
	o := cmd.OutOrStdout()
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
	rank := eval.Ranks(cs)
	if err := demoNoduleTable(o, truth, chests, r, cs, rank); err != nil {
		return err
	}
	p := newPrinter(o)
	p.Printf("\nfound %d of %d nodules; %d candidates in all\n\n", r.Detected, r.Nodules, len(cs))
	p.Print(r.Summary())
	if err := eval.PlotFROC(filepath.Join(res, "froc.png"), r); err != nil {
		return err
	}
	p.Println()
	if err := p.Err(); err != nil {
		return err
	}
	if err := demoPatientTable(o, sum, chests); err != nil {
		return err
	}
	p.Printf("\nresults: %s (candidates.csv, submission.csv, froc.png, per-patient PNGs)\n", res)
	return p.Err()
}

// demoNoduleTable prints one row per true nodule: found or not, and for a
// found one its hit's rank, distance and scores.
func demoNoduleTable(o io.Writer, truth []phantom.TruthRow, chests map[string]*phantom.Chest, r *eval.Result,
	cs []candidate.Candidate, rank []int) error {
	tw := tabwriter.NewWriter(o, 2, 4, 2, ' ', 0)
	p := newPrinter(tw)
	p.Println("patient\tnodule\tkind\tdiam_mm\tmalignant\tfound\trank\tdist_mm\tdetect\tbrock\tcnn")
	for i, t := range truth {
		pid := chests[t.SeriesUID].PatientID
		nr := r.PerNodule[i]
		if !nr.Detected {
			p.Printf("%s\t%d\t%s\t%.1f\t%v\tno\t-\t-\t-\t-\t-\n", pid, i+1, t.Kind, t.DiameterMM, t.Malignant)
			continue
		}
		hit := cs[nr.Candidate]
		p.Printf("%s\t%d\t%s\t%.1f\t%v\tyes\t%d\t%.1f\t%.2f\t%s\t%s\n", pid, i+1, t.Kind, t.DiameterMM, t.Malignant,
			rank[nr.Candidate], nr.DistanceMM, hit.DetectScore, orDash(hit.Brock), orDash(hit.CNN))
	}
	return firstErr(p.Err(), tw.Flush())
}

// demoPatientTable prints each patient's truth (cancer when any nodule is
// malignant) beside its cancer probability.
func demoPatientTable(o io.Writer, sum *pipeline.Summary, chests map[string]*phantom.Chest) error {
	tw := tabwriter.NewWriter(o, 2, 4, 2, ' ', 0)
	p := newPrinter(tw)
	p.Println("patient\tcancer (truth)\tcancer probability (brock)")
	for _, rec := range sum.Records {
		c := chests[rec.SeriesUID]
		if c == nil {
			continue // not a patient this demo wrote (demoOut clears the last demo's)
		}
		has := false
		for _, n := range c.Nodules {
			has = has || n.Malignant
		}
		p.Printf("%s\t%v\t%.3f\n", c.PatientID, has, rec.Cancer)
	}
	return firstErr(p.Err(), tw.Flush())
}

// orDash prints a probability with two decimals, "-" when not computed.
func orDash(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return fmt.Sprintf("%.2f", p)
}

// demoMarker marks a folder as a demo's: demo writes it, and clears the
// demo's own outputs in a folder that holds it before writing new ones.
const demoMarker = ".lungctl-demo"

// demoOut prepares the demo's folder out: new or empty, it gets the
// marker; one that holds the marker has the last demo's phantoms, results
// and truth removed (run over phantoms/ would otherwise score the last
// demo's patients too: with another --seed they were counted as false
// positives, and the patient table crashed on them); any other folder with
// files in it is refused.
func demoOut(out, scans, res string) error {
	ents, err := os.ReadDir(out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("demo: -o %s: %w", out, err)
	}
	marker := filepath.Join(out, demoMarker)
	if len(ents) > 0 {
		if _, err := os.Lstat(marker); err != nil {
			return fmt.Errorf("demo: -o %s holds files and is not a demo's folder (no %s in it): give a new or empty folder", out, demoMarker)
		}
		for _, p := range []string{scans, res, filepath.Join(out, "truth.csv")} {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("demo: clear the last demo: %w", err)
			}
		}
	}
	if err := mkdirOut(out); err != nil {
		return err
	}
	return atomicfile.WriteBytes(marker, []byte("a lungctl demo folder: 'lungctl demo' replaces phantoms/, results/ and truth.csv here\n"))
}
