package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/eval"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		annotations, excluded, seriesuids, out string
		bootstrap                              int
		seed                                   int64
		maxMarks                               int
	)
	cmd := &cobra.Command{
		Use:   "eval --annotations annotations.csv [--excluded annotations_excluded.csv] candidates.csv...",
		Short: "LUNA16 FROC and CPM of candidate files against annotations",
		Long: `eval scores candidate files exactly as the official LUNA16 evaluation does: a
mark hits a nodule when its distance to the centre is below the radius; several
hits on one nodule count once; marks on excluded findings are ignored (unknown
diameters count as 10 mm); at most 100 marks per scan (ties at the cut are
dropped); CPM is the mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false
positives per scan. Coordinates are LPS world mm (LUNA16's coordX/Y/Z).

For each candidates file it prints a summary and writes <out>/<name>_froc.json;
all files together are plotted in <out>/froc.png.`,
		Example: `  lungctl eval --annotations ../shared/data/luna16-csv/annotations.csv \
    --excluded ../shared/data/luna16-csv/annotations_excluded.csv \
    --seriesuids ../shared/data/luna16-csv/seriesuids.csv out/candidates.csv -o out/eval`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if annotations == "" {
				return usagef("eval: --annotations is required")
			}
			if maxMarks < 0 {
				maxMarks = -1
			}
			if err := firstErr(folderOut("eval", "-o", out), checkInt("bootstrap", bootstrap, 0, 100000),
				checkInt("max-marks", maxMarks, -1, 1000000)); err != nil {
				return err
			}
			if err := mkdirOut(out); err != nil {
				return err
			}
			var results []*eval.Result
			for _, c := range args {
				name := strings.TrimSuffix(filepath.Base(c), filepath.Ext(c))
				if len(args) > 1 {
					name = filepath.Base(filepath.Dir(c)) + "_" + name
				}
				r, err := eval.EvaluateFiles(eval.Files{Annotations: annotations, Excluded: excluded, SeriesUIDs: seriesuids,
					Candidates: c}, eval.Options{Name: name, Bootstrap: bootstrap, Seed: seed, MaxMarksPerScan: maxMarks})
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), r.Summary())
				if err := eval.WriteJSON(filepath.Join(out, name+"_froc.json"), r); err != nil {
					return err
				}
				results = append(results, r)
			}
			png := filepath.Join(out, "froc.png")
			if err := eval.PlotFROC(png, results...); err != nil {
				return err
			}
			logger.Info("wrote FROC plot", "path", png)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&annotations, "annotations", "", "annotations CSV (seriesuid,coordX,coordY,coordZ,diameter_mm)")
	f.StringVar(&excluded, "excluded", "", "excluded-findings CSV (same columns); hits on them are ignored")
	f.StringVar(&seriesuids, "seriesuids", "", "list of evaluated scan ids (default: the ids in the candidates file; a scan with no candidates then needs this list)")
	f.StringVarP(&out, "out", "o", ".", "folder for the JSON summaries and froc.png")
	f.IntVar(&bootstrap, "bootstrap", 0, "bootstrap resamplings of the scans for confidence bands, 0-100000 (the official script uses 1000)")
	f.Int64Var(&seed, "seed", 1, "bootstrap seed")
	f.IntVar(&maxMarks, "max-marks", 0, "marks kept per scan, up to 1000000 (0 = LUNA16's 100, negative = no cap)")
	return cmd
}
