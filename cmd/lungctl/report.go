package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var sf scanFlags
	var out string
	cmd := &cobra.Command{
		Use:   "report IN -o DIR",
		Short: "Self-contained HTML report per patient (findings by malignancy, pictures, summary) and an index",
		Long:  reportLong,
		Example: `  lungctl report ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 -o reports/
  lungctl report scan/ -o reports/ --clinical clinical.csv --scorer fused --model luna.lcnn
  lungctl run stage1/ -o out/ && lungctl report out/ -o out-reports/   # index.html + one page per patient`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := folderOut("report", "-o", out); err != nil {
				return err
			}
			in := args[0]
			if pipeline.IsRunFolder(in) {
				popt, err := sf.pf.options()
				if err != nil {
					return err
				}
				return reportRunFolder(cmd, in, out, popt)
			}
			opt, err := sf.options()
			if err != nil {
				return err
			}
			opt.Report = true
			if err := mkdirOut(out); err != nil {
				return err
			}
			w := &pipeline.Worker{Opt: opt}
			rec, _, err := w.Process(cmd.Context(), in, out)
			if err != nil {
				return err
			}
			path := filepath.Join(out, pipeline.ReportName(rec.ID))
			pr := newPrinter(cmd.OutOrStdout())
			pr.Println(path)
			if err := pr.Err(); err != nil {
				return err
			}
			logger.Info("report", "id", rec.ID, "path", path, "cancer", fmt.Sprintf("%.4f", rec.Cancer),
				"scorer", rec.Scorer, "lung_rads", rec.LungRADS, "candidates", rec.Candidates)
			return nil
		},
	}
	sf.pf.add(cmd)
	sf.df.add(cmd)
	sf.cf.add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "output folder (required)")
	return cmd
}

// reportRunFolder reports every scan of a run output folder.
func reportRunFolder(cmd *cobra.Command, in, out string, popt pipeline.PreprocessOptions) error {
	// Made first: the index is written even when every scan's report
	// fails (each scan's folder is made as its report is).
	if err := mkdirOut(out); err != nil {
		return err
	}
	if a, e1 := os.Stat(in); e1 == nil {
		if b, e2 := os.Stat(out); e2 == nil && os.SameFile(a, b) {
			logger.Info("writing the reports into the run folder itself", "dir", out)
		}
	}
	rr, err := pipeline.ReportRun(cmd.Context(), in, out, popt, logger)
	if err != nil {
		return err
	}
	pr := newPrinter(cmd.OutOrStdout())
	pr.Println(rr.Index)
	if err := pr.Err(); err != nil {
		return err
	}
	logger.Info("reports", "written", len(rr.Written), "failed", len(rr.Failed), "index", rr.Index)
	if len(rr.Failed) > 0 {
		return partialError{failed: len(rr.Failed), total: len(rr.Written) + len(rr.Failed), file: rr.Index}
	}
	return nil
}

// reportLong is the command's --help text.
const reportLong = `report writes what a radiologist reviews, one HTML file per patient that
opens offline in any browser (images embedded, no scripts, nothing fetched):

  - the summary: cancer probability and the scorer that made it, Lung-RADS
    v2022 category, emphysema (LAA-950, % of lung voxels), the clinical
    covariates with where each came from (--clinical CSV, DICOM header,
    measured on the CT) and which were defaulted, the model's sha256, the
    tool version and every warning;
  - an overview: coronal and axial maximum-intensity projections inside the
    lungs with the candidates circled and numbered by their rank (the row of
    candidates.csv, the N<rank> of the exports);
  - the findings, most malignant first: type, Lung-RADS, malignancy, Brock and
    CNN probabilities, long and short axis, mean diameter, volume, solid part,
    spiculation, zone, detection score, LPS centre (and on each finding's card
    lobulation and the distance to the pleura), and the axial, coronal and
    sagittal planes through the finding (60 mm) in the lung (W 1500 L -600 HU)
    and mediastinal (W 350 L 40 HU) windows, drawn from the scan at its source
    resolution (the DICOM slices or the input file's own grid).

IN is one scan (a DICOM folder or .zip, .mhd or NIfTI): it is processed as
'lungctl run' would (the flags below are run's: --scorer, --clinical, ...) and
DIR/<id>_report.html is written. Or IN is a 'lungctl run' output folder:
every complete scan gets DIR/<id>/<id>_report.html from its done.json and
candidates.csv (its pictures from the volumes --volumes kept, else from the
input done.json names, read again), and DIR/index.html lists every scan,
failed ones included, sortable by probability and Lung-RADS. 'lungctl run
--report' writes the same files as part of a run; a scan whose pictures
cannot be made fails alone (listed in the index, exit 3). The pages are
research output, not a diagnosis, and say so.`
