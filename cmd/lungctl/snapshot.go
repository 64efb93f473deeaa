package main

import (
	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newSnapshotCmd) }

func newSnapshotCmd() *cobra.Command {
	var pf preprocessFlags
	var cands, out, mask string
	var top int
	cmd := &cobra.Command{
		Use:   "snapshot IN --candidates candidates.csv -o DIR",
		Short: "PNG pictures of candidates: three slices each, and a per-scan MIP overview",
		Long: `snapshot draws each of the top candidates as one PNG with the axial, coronal
and sagittal slices through it (80 mm field of view, lung window W1500/L-600,
the candidate circled, its score, diameter and LPS position written), and one
overview per scan: coronal and axial maximum-intensity projections inside the
lung mask with the candidates circled and numbered by rank.

Orientation is radiological: patient's right on the image left, anterior up
(axial), head up (coronal, sagittal); each view carries R/L, A/P, S/I letters
and a 10 mm scale bar. IN is a preprocess output (.nii.gz, its _lung mask is
found beside it), an .mhd or a DICOM folder (preprocessed in memory).`,
		Example: `  lungctl snapshot out/lidc-idri-0001.nii.gz --candidates out/candidates.csv -o pics/ --top 5`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cands == "" {
				return usagef("snapshot: --candidates is required")
			}
			if err := firstErr(folderOut("snapshot", "-o", out), checkInt("top", top, 0, 1000)); err != nil {
				return err
			}
			opt, err := pf.options()
			if err != nil {
				return err
			}
			cs, err := candidate.ReadFile(cands)
			if err != nil {
				return err
			}
			p, err := pipeline.LoadVolumes(args[0], mask, opt, nil)
			if err != nil {
				return err
			}
			mine := p.CandidatesFor(cs) // only this scan's rows of a multi-scan CSV
			if len(mine) == 0 {
				logger.Warn("no candidate rows for this scan", "series_uid", p.SeriesUID, "id", p.ID, "csv", cands)
			}
			if err := mkdirOut(out); err != nil {
				return err
			}
			names, err := pipeline.WriteSnapshots(p, mine, out, top)
			if err != nil {
				return err
			}
			logger.Info("wrote pictures", "dir", out, "files", len(names))
			return nil
		},
	}
	pf.add(cmd)
	cmd.Flags().StringVar(&cands, "candidates", "", "candidates CSV (detect, classify or run output)")
	cmd.Flags().StringVar(&mask, "mask", "", "lung mask NIfTI (default: <id>_lung.nii.gz beside IN)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "output folder")
	cmd.Flags().IntVar(&top, "top", 10, "pictures for the top N candidates, 0-1000 (0 = all)")
	return cmd
}
