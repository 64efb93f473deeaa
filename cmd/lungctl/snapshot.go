package main

import (
	"fmt"
	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/render"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newSnapshotCmd) }

func newSnapshotCmd() *cobra.Command {
	var pf preprocessFlags
	var cands, out, mask, order, window string
	var top int
	cmd := &cobra.Command{
		Use:   "snapshot IN --candidates candidates.csv -o DIR",
		Short: "PNG pictures of candidates: three slices each, and a per-scan MIP overview",
		Long:  snapshotLong,
		Example: `  lungctl snapshot ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 --candidates out/LIDC-IDRI-0001/candidates.csv -o pics/ --top 5
  lungctl snapshot out/LIDC-IDRI-0001.nii.gz --candidates scored.csv -o pics/ --order detection --window mediastinum
  lungctl snapshot scan/ --candidates scored.csv -o pics/ --window 400,40`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cands == "" {
				return usagef("snapshot: --candidates is required")
			}
			if err := firstErr(folderOut("snapshot", "-o", out), checkInt("top", top, 0, 1000)); err != nil {
				return err
			}
			sopt := pipeline.SnapshotOptions{Top: top}
			var err error
			if sopt.Order, err = pipeline.ParseOrder(order); err != nil {
				return usageError{err}
			}
			if sopt.Window, err = render.ParseWindow(window); err != nil {
				return usagef("--window: %v", err)
			}
			opt, err := pf.options()
			if err != nil {
				return err
			}
			opt.KeepSource = true
			cs, err := candidate.ReadFile(cands)
			if err != nil {
				return err
			}
			p, err := pipeline.LoadVolumes(args[0], mask, opt, nil)
			if err != nil {
				return err
			}
			logWarnings(args[0], p.Sidecar.Warnings) // the loader's, and a sidecar's that could not be used
			if note, err := pipeline.AttachSource(p, args[0]); err != nil {
				return err
			} else if note != "" {
				logger.Info(note)
			}
			mine := p.CandidatesFor(cs) // only this scan's rows of a multi-scan CSV
			if len(mine) == 0 && len(cs) > 0 {
				// Another scan's file: pictures of nothing would pass for a
				// scan without findings.
				return fmt.Errorf("%s: none of its %d candidate rows is for scan %s (seriesuid %s or %s): another scan's candidates?",
					cands, len(cs), args[0], p.SeriesUID, p.ID)
			}
			if len(mine) == 0 {
				logger.Warn("no candidate rows for this scan", "series_uid", p.SeriesUID, "id", p.ID, "csv", cands)
			}
			if err := pipeline.CheckInside(p, mine); err != nil {
				return fmt.Errorf("%s: %w", cands, err)
			}
			if err := mkdirOut(out); err != nil {
				return err
			}
			names, err := pipeline.WriteSnapshots(p, mine, out, sopt)
			if err != nil {
				return err
			}
			logger.Info("wrote pictures", "dir", out, "files", len(names), "order", sopt.Order, "window", sopt.Window.Flag())
			return nil
		},
	}
	pf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cands, "candidates", "", "candidates CSV (detect, classify or run output)")
	fl.StringVar(&mask, "mask", "", "lung mask NIfTI (default: <id>_lung.nii.gz beside IN)")
	fl.StringVarP(&out, "out", "o", "", "output folder")
	fl.IntVar(&top, "top", 10, "pictures for the first N candidates in --order, 0-1000 (0 = all)")
	fl.StringVar(&order, "order", string(pipeline.OrderMalignancy), "rank candidates by malignancy × detection score (ties by detection score) or by detection")
	fl.StringVar(&window, "window", "lung", "display window: lung (W 1500 L -600 HU), mediastinum (W 350 L 40) or W,L in HU, e.g. 400,40")
	return cmd
}

// snapshotLong is the command's --help text.
const snapshotLong = `snapshot draws each of the top candidates as one PNG with the axial, coronal
and sagittal slices through it (80 mm field of view, --window, the candidate
circled, its scores, measurements and LPS position written), and one overview
per scan: coronal and axial maximum-intensity projections inside the lung mask
with the same candidates circled and numbered.

--order malignancy (default) ranks the candidates by malignancy x detection
score (the scorer's malignancy column times the probability column, as the
patient probability weighs them; candidates without a malignancy last), ties by
detection score; --order detection by detection score (the probability column)
alone.
<id>_candNN.png is the candidate of rank NN in that order.

The slices are drawn from the scan at its source resolution: a DICOM folder's
own slices, an .mhd's or NIfTI's own grid, or, for a preprocess output
(<id>.nii.gz), the original scan its <id>.json names when it is still there
(else the 1 mm volume, with a note). Orientation is radiological: patient's
right on the image left, anterior up (axial), head up (coronal, sagittal); each
view carries R/L, A/P, S/I letters and a 10 mm scale bar. --window is lung
(W 1500 L -600 HU, default), mediastinum (W 350 L 40) or W,L in HU.
A candidates file with rows but none for this scan (its seriesuid, or its id,
in the seriesuid column) is an error naming the file and the scan (an empty
file, header only, draws the overview alone); a candidate whose centre lies
outside the scan's volume is an error that names it.`
