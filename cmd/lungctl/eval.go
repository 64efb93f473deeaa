package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		annotations, excluded, seriesuids, out string
		lidcDir, labels                        string
		by                                     []string
		bootstrap                              int
		seed                                   int64
		maxMarks                               int
		minDiameter, malignantFrom, at         float64
	)
	cmd := &cobra.Command{
		Use:   "eval (--annotations annotations.csv [--excluded annotations_excluded.csv] candidates.csv... | --lidc SERIES_DIR [--labels LABELS.nii.gz] candidates.csv)",
		Short: "LUNA16 FROC and CPM of candidate files against annotations, phantom truth or LIDC readers",
		Long:  evalLong,
		Example: `  lungctl eval --annotations ../shared/data/luna16-csv/annotations.csv \
    --excluded ../shared/data/luna16-csv/annotations_excluded.csv \
    --seriesuids ../shared/data/luna16-csv/seriesuids.csv out/candidates.csv -o out/eval

  # phantoms: per kind and per size, the detect test's 4 mm rule
  lungctl phantom -o ph --seed 7 && lungctl run ph -o ph-out
  lungctl eval --annotations ph/truth.csv --by kind,size --min-diameter 4 ph-out/candidates.csv -o ph-eval

  # LIDC readers' truth, with the Dice of run --export's label map on the 1 mm grid
  lungctl run ../shared/data/lidc-idri-0001 -o out/ --export
  lungctl eval --lidc ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 \
    --labels out/LIDC-IDRI-0001/LIDC-IDRI-0001_labels.nii.gz out/candidates.csv -o out/eval`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if maxMarks < 0 {
				maxMarks = -1
			}
			if err := firstErr(evalModeErr(fl.Changed, annotations, lidcDir, len(args)), checkBy(by),
				folderOut("eval", "-o", out), checkInt("bootstrap", bootstrap, 0, 100000),
				checkInt("max-marks", maxMarks, -1, 1000000), checkFloat("min-diameter", minDiameter, 0, 100),
				checkFloat("malignant-from", malignantFrom, 1, 5), checkFloat("at", at, 0, 1)); err != nil {
				return err
			}
			if lidcDir != "" {
				return evalLIDC(cmd, lidcDir, labels, args[0], out, eval.LIDCOptions{MalignantFrom: malignantFrom, MaxMarksPerScan: maxMarks})
			}
			opt := eval.Options{Bootstrap: bootstrap, Seed: seed, MaxMarksPerScan: maxMarks, OperatingAt: at}
			if fl.Changed("min-diameter") {
				opt.MinDiameterMM = &minDiameter
			}
			for _, b := range by {
				opt.ByKind = opt.ByKind || b == "kind"
				opt.BySize = opt.BySize || b == "size"
			}
			return evalLUNA(cmd, eval.Files{Annotations: annotations, Excluded: excluded, SeriesUIDs: seriesuids}, args, out, opt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&annotations, "annotations", "", "annotations CSV (seriesuid,coordX,coordY,coordZ,diameter_mm), or a phantom truth.csv")
	f.StringVar(&excluded, "excluded", "", "excluded-findings CSV (same columns); hits on them are ignored")
	f.StringVar(&seriesuids, "seriesuids", "", "list of evaluated scan ids (default: the ids in the candidates file; a scan with no candidates then needs this list)")
	f.StringVarP(&out, "out", "o", ".", "folder for the JSON summaries and froc.png")
	f.IntVar(&bootstrap, "bootstrap", 0, "bootstrap resamplings of the scans for confidence bands, 0-100000 (the official script uses 1000)")
	f.Int64Var(&seed, "seed", 1, "bootstrap seed")
	f.IntVar(&maxMarks, "max-marks", 0, "marks kept per scan, up to 1000000 (0 = LUNA16's 100, negative = no cap)")
	f.StringSliceVar(&by, "by", nil, "also report the FROC per group: kind (needs a phantom truth's kind column), size (diameter bands); comma-separated")
	f.Float64Var(&minDiameter, "min-diameter", eval.DefaultMinDiameterMM, "annotations under this diameter (mm, 0-100) are excluded findings; default LUNA16's 3 for phantom truth, applied to other annotation files only when given; 0 keeps all")
	f.StringVar(&lidcDir, "lidc", "", "score against the LIDC-IDRI readers' XML beside this DICOM series (instead of --annotations)")
	f.StringVar(&labels, "labels", "", "with --lidc: label map (NIfTI/MetaImage, uint8, value = candidate rank by probability) for the Dice with the readers' consensus")
	f.Float64Var(&at, "at", 0, fmt.Sprintf("also print the sensitivity and FP/scan of the marks with probability at or above this, 0-1 (0: not; %g is the detection score from which run reports a nodule)", pipeline.ReportThreshold))
	f.Float64Var(&malignantFrom, "malignant-from", 3, "with --lidc: readers' median malignancy rating (1-5) from which a nodule counts as malignant for the AUC")
	return cmd
}

// evalLUNA scores each candidates file against the annotations (LUNA16 or
// phantom truth) in files: a summary on stdout and <out>/<name>_froc.json
// each, all of them in <out>/froc.png; name is eval.OutputNames'. Every
// file is read and scored before anything is written, so that a bad file
// leaves no output behind.
func evalLUNA(cmd *cobra.Command, files eval.Files, cands []string, out string, opt eval.Options) error {
	names, err := candidateNames(cands)
	if err != nil {
		return err
	}
	results := make([]*eval.Result, len(cands))
	for i, c := range cands {
		opt.Name = names[i]
		files.Candidates = c
		if results[i], err = eval.EvaluateFiles(files, opt); err != nil {
			return err
		}
	}
	if err := mkdirOut(out); err != nil {
		return err
	}
	for i, r := range results {
		pr := newPrinter(cmd.OutOrStdout())
		pr.Print(r.Summary())
		if err := pr.Err(); err != nil {
			return err
		}
		if err := eval.WriteJSON(filepath.Join(out, names[i]+"_froc.json"), r); err != nil {
			return err
		}
	}
	png := filepath.Join(out, "froc.png")
	if err := eval.PlotFROC(png, results...); err != nil {
		return err
	}
	logger.Info("wrote FROC plot", "path", png)
	return nil
}

// candidateNames is eval.OutputNames, with a file given twice a usage
// error.
func candidateNames(cands []string) ([]string, error) {
	names, err := eval.OutputNames(cands)
	if errors.Is(err, eval.ErrSameCandidates) {
		return nil, usageError{err}
	}
	return names, err
}

// evalModeErr checks that the flags fit one mode: --annotations (LUNA16 or
// phantom truth) or --lidc (one candidates file), never both.
func evalModeErr(changed func(string) bool, annotations, lidcDir string, nArgs int) error {
	switch {
	case annotations != "" && lidcDir != "":
		return usagef("eval: --annotations and --lidc are two ways to score; give one")
	case annotations == "" && lidcDir == "":
		return usagef("eval: --annotations (or --lidc SERIES_DIR) is required")
	}
	if lidcDir != "" {
		for _, f := range []string{"excluded", "seriesuids", "by", "bootstrap", "min-diameter"} {
			if changed(f) {
				return usagef("eval: --%s does not apply with --lidc", f)
			}
		}
		if nArgs != 1 {
			return usagef("eval: --lidc scores one candidates file, got %d", nArgs)
		}
		return nil
	}
	for _, f := range []string{"labels", "malignant-from"} {
		if changed(f) {
			return usagef("eval: --%s applies only with --lidc", f)
		}
	}
	return nil
}

// checkBy refuses --by values other than kind and size.
func checkBy(by []string) error {
	for i, b := range by {
		b = strings.TrimSpace(b)
		by[i] = b
		if b != "kind" && b != "size" {
			return usagef("--by %q: want kind or size (comma-separated for both)", b)
		}
	}
	return nil
}

// evalLIDC scores one candidates file against the readers' truth of the
// series in dir and writes <out>/<name>_lidc.json.
func evalLIDC(cmd *cobra.Command, dir, labels, cands, out string, opt eval.LIDCOptions) error {
	names, err := candidateNames([]string{cands})
	if err != nil {
		return err
	}
	opt.Name = names[0]
	r, err := eval.EvaluateLIDCFiles(dir, cands, labels, opt)
	if err != nil {
		return err
	}
	if err := mkdirOut(out); err != nil {
		return err
	}
	for _, w := range r.Warnings {
		logger.Warn(w, "input", dir)
	}
	pr := newPrinter(cmd.OutOrStdout())
	pr.Print(r.Summary())
	if err := pr.Err(); err != nil {
		return err
	}
	p := filepath.Join(out, opt.Name+"_lidc.json")
	if err := eval.WriteLIDCJSON(p, r); err != nil {
		return err
	}
	logger.Info("wrote LIDC evaluation", "path", p)
	return nil
}

// evalLong is the command's --help text.
const evalLong = `eval scores candidate files exactly as the official LUNA16 evaluation does: a
mark hits a nodule when its distance to the centre is below the radius; several
hits on one nodule count once; marks on excluded findings are ignored (unknown
diameters count as 10 mm); at most 100 marks per scan (ties at the cut are
dropped); CPM is the mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false
positives per scan. Coordinates are LPS world mm (LUNA16's coordX/Y/Z).

For each candidates file it prints a summary and writes <out>/<name>_froc.json;
all files together are plotted in <out>/froc.png. With --at P the summary also
gives the sensitivity and false positives per scan of the marks with
probability P or more ("operating" in the JSON): --at 0.45 is lungctl run's
operating point, the detection score from which it reports a nodule (for the
patient's Lung-RADS and Brock's nodule count).

<name> is the candidates file's base name without the extension
(out/candidates.csv: candidates). With several files, the name of the folder
it is in goes in front, joined by _ (run1/candidates.csv: run1_candidates; a
file given without a folder keeps its base name alone); where two files
would still get the same name, more of their folders go in front (a/x/c.csv
and b/x/c.csv: a_x_c and b_x_c). Leading dots are dropped, and a name still
taken gets _2, _3 ... in argument order. The same file given twice is a
usage error.

Every input is read and checked before anything is written. The probability
column holds scores: any finite number ranks, as in the official script (the
summary notes probabilities outside 0-1); an empty, NaN or infinite one is an
error naming the file and line, as are a negative diameter_mm in the
annotations (in --excluded, LUNA16's -1 for an unknown diameter stays) and a
column named twice in a header.

Phantom truth (lungctl phantom's truth.csv, which has a kind column) is an
annotations file too. Its nodules under --min-diameter (default 3 mm, LUNA16's
rule; the detect package's phantom test uses 4) become excluded findings, and
the summary says so. --min-diameter applies to a plain annotations file only
when given. --by kind and --by size add the FROC per lesion kind and per
diameter band (3-4, 4-6, 6-10, 10-30, 30+ mm; under 3 mm too when such nodules
count): sensitivity over that group's nodules, false positives of all scans.
When the truth has the measurement columns and the candidates have
measurements, the summary and JSON compare them for each detected nodule's
best-scoring hit: mean diameter and volume error (median, 90th percentile;
both also per kind, with their median signed error, so that a kind
measured too large or too small shows), type accuracy and confusion, the spiculation AUC (spiculated against all other
nodules, and against the round kind alone), the malignancy AUCs, the
Lung-RADS counts and, when the truth has a location column, per location how
many hits read a pleura_distance_mm of 1 mm or less (touching).

--lidc SERIES_DIR scores one candidates file against the LIDC-IDRI readers'
XML beside a DICOM series: per physical nodule >= 3 mm (50 % consensus) whether
a candidate hits it (LUNA16 rule at the consensus centroid and equivalent
diameter), the hit's diameter error (against the equivalent diameter and the
readers' mean diameter), volume error, type against the readers' texture,
spiculation against the readers' median spiculation rating (spiculated from
3; the hit flagged from a score of 0.5, as Lung-RADS and Brock take it), with
--labels the Dice of the hit's label (value = its rank by probability) with the
consensus, and the malignancy AUC (readers' median >= --malignant-from,
default 3). It writes <out>/<name>_lidc.json (<name>: the candidates file's
base name without the extension).`
