package main

import (
	"fmt"
	"io"
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/detect"
	"github.com/lungctl/lungctl/internal/npy"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newDetectCmd) }

type detectFlags struct {
	huMin, siMin, sigma   float64
	bwSpatial, bwHU, bwSI float64
	minD, maxD            float64
	max                   int
	device                string
}

func (f *detectFlags) add(cmd *cobra.Command) {
	d := detect.Defaults
	fl := cmd.Flags()
	fl.Float64Var(&f.huMin, "hu-min", d.HUMin, "lung voxels above this HU become points, -1024 to 3071")
	fl.Float64Var(&f.siMin, "si-min", d.SIMin, "points need a shape index at least this (1 = spherical cap, 0.75 = vessel, 0.5 = wall), -1 to 1; negative keeps all")
	fl.Float64Var(&f.sigma, "sigma", d.SigmaMM, "Gaussian smoothing before curvature, mm, 0.25 to 10")
	fl.Float64Var(&f.bwSpatial, "bandwidth-mm", d.Bandwidth[0], "mean-shift bandwidth along x, y, z, mm, 0.5 to 50")
	fl.Float64Var(&f.bwHU, "bandwidth-hu", d.Bandwidth[3], "mean-shift bandwidth along HU, 1 to 4000")
	fl.Float64Var(&f.bwSI, "bandwidth-si", d.Bandwidth[4], "mean-shift bandwidth along shape index, 0.01 to 1")
	fl.Float64Var(&f.minD, "min-diameter", d.MinDiameterMM, "smallest candidate diameter kept, mm, 0 to 100")
	fl.Float64Var(&f.maxD, "max-diameter", d.MaxDiameterMM, "largest candidate diameter kept, mm, above --min-diameter, up to 200")
	fl.IntVar(&f.max, "max-candidates", d.MaxCandidates, "candidates kept per scan, best first, 1 to 100000 (negative = all)")
	fl.StringVar(&f.device, "device", "auto", "mean-shift backend: auto, cpu, cuda (= cuda-grid) or cuda-brute; CUDA needs a -tags lungcuda build (make build-cuda) and a GPU")
}

// check refuses values outside the documented ranges (a zero or negative
// bandwidth or --sigma used to be replaced by the default silently; a tiny
// bandwidth panicked and a huge --sigma hung).
func (f *detectFlags) check() error {
	maxC := f.max
	if maxC < 0 {
		maxC = 1 // negative: all
	}
	return firstErr(checkFloat("hu-min", f.huMin, -1024, 3071), checkFloat("si-min", f.siMin, -1, 1),
		checkFloat("sigma", f.sigma, 0.25, 10), checkFloat("bandwidth-mm", f.bwSpatial, 0.5, 50),
		checkFloat("bandwidth-hu", f.bwHU, 1, 4000), checkFloat("bandwidth-si", f.bwSI, 0.01, 1),
		checkFloat("min-diameter", f.minD, 0, 100), checkFloat("max-diameter", f.maxD, math.Max(f.minD, 1), 200),
		checkInt("max-candidates", maxC, 1, 100000))
}

func (f *detectFlags) options() (detect.Options, error) {
	o := detect.Defaults
	if err := f.check(); err != nil {
		return o, err
	}
	o.HUMin, o.SIMin, o.SigmaMM = f.huMin, f.siMin, f.sigma
	o.Bandwidth = [5]float64{f.bwSpatial, f.bwSpatial, f.bwSpatial, f.bwHU, f.bwSI}
	o.MinDiameterMM, o.MaxDiameterMM, o.MaxCandidates = f.minD, f.maxD, f.max
	b, note, err := cluster.SelectBackend(f.device)
	if err != nil {
		return o, usageError{err}
	}
	if note != "" {
		logger.Info(note)
	}
	logger.Debug("mean-shift backend", "device", f.device, "backend", b.Name())
	o.Cluster.Backend = b
	return o, nil
}

func newDetectCmd() *cobra.Command {
	var pf preprocessFlags
	var df detectFlags
	var mask, out, points, clinical string
	cmd := &cobra.Command{
		Use:   "detect IN [--mask lung.nii.gz] -o candidates.csv",
		Short: "5-D mean-shift nodule candidates (x, y, z, HU, shape index) in world mm",
		Long:  detectLong,
		Example: `  lungctl detect out/LIDC-IDRI-0001.nii.gz -o out/candidates.csv
  lungctl detect ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 -o cands.csv --export-points pts.npy
  /usr/bin/python3 ../shared/peers/meanshift_sklearn.py --points pts.npy --bandwidth 4   # same points, sklearn (4 = --bandwidth-mm)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("detect: -o candidates.csv is required")
			}
			if out == stdoutPath && points == stdoutPath {
				return usagef("detect: -o and --export-points cannot both be - (standard output)")
			}
			popt, err := pf.options()
			if err != nil {
				return err
			}
			dopt, err := df.options()
			if err != nil {
				return err
			}
			clin, err := readClinical(clinical)
			if err != nil {
				return err
			}
			p, err := pipeline.LoadVolumes(args[0], mask, popt, nil)
			if err != nil {
				return err
			}
			logWarnings(args[0], p.Sidecar.Warnings) // the loader's, and a sidecar's that could not be used
			cs, r, err := pipeline.Detect(p, dopt, nil)
			if err != nil {
				return err
			}
			sc, err := pipeline.Score(p, cs, pipeline.ScoreOptions{Clinical: clin, NoScore: true})
			if err != nil {
				return err
			}
			for _, w := range sc.Warnings {
				logger.Warn(w, "id", p.ID)
			}
			if err := writeOut(cmd, out, func(w io.Writer) error { return candidate.Write(w, cs) }); err != nil {
				return err
			}
			if points != "" {
				// Scale HU and SI so one isotropic bandwidth (the spatial
				// one, in mm) equals our per-axis bandwidths: what
				// single-bandwidth tools such as scikit-learn expect.
				scaled := cluster.EqualScale(r.Points, 5, r.Bandwidth, r.Bandwidth[0])
				err := writeOut(cmd, points, func(w io.Writer) error { return npy.Write(w, scaled, []int{len(scaled) / 5, 5}) })
				if err != nil {
					return err
				}
				logger.Info("exported points", "path", points, "n", len(r.Points)/5,
					"bandwidth", r.Bandwidth[0], "note", "HU and SI scaled so that one bandwidth fits all axes")
			}
			logger.Info("detected", "id", p.ID, "candidates", len(cs), "points", len(r.Points)/5,
				"clusters", r.Clusters, "lung_rads", sc.Risk.LungRADS, "emphysema_pct", fmt.Sprintf("%.1f", sc.Risk.EmphysemaPct),
				"out", out, "seconds", pipeline.Timings(p.Seconds))
			return nil
		},
	}
	pf.add(cmd)
	df.add(cmd)
	cmd.Flags().StringVar(&mask, "mask", "", "lung mask NIfTI (default: <id>_lung.nii.gz beside IN, else computed)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "candidates CSV to write (- = standard output)")
	cmd.Flags().StringVar(&clinical, "clinical", "", "patient covariates CSV for the brock column: id,age,sex,family_history,emphysema (see classify)")
	cmd.Flags().StringVar(&points, "export-points", "", "also write the clustered N×5 points as float32 .npy: x,y,z mm, then HU and SI scaled so that --bandwidth-mm is the one bandwidth of every axis (- = standard output)")
	return cmd
}

// detectLong is the command's --help text.
const detectLong = `detect finds nodule candidates: lung voxels denser than --hu-min whose volumetric
shape index (from the Gaussian and mean curvature of the iso-surface, after
--sigma mm smoothing) says "blob" are clustered by Gaussian mean-shift over
(x, y, z mm, HU, shape index), one bandwidth per axis; each cluster becomes a
candidate with its centroid in LPS world mm (LUNA16's frame), equivalent
diameter, mean HU, mean shape index, compactness and a score in [0,1]
(coarse clusters, sigma 12 mm or more, within a better one's blob radius and
with no fine blob point of their own elsewhere are merged into it: a large mass
is one candidate). The lesion of each of the 40 best is then segmented (at the cluster's centroid and,
when that is 2 mm or more away, at its strongest fine-scale blob point; the next
20 clusters at that blob point only; and up to 20 fine peaks: a fine point
whose blob response is the largest of its cluster's within its blob radius,
away from the cluster's centroid and blob point, as a small nodule whose points
joined a vessel's cluster leaves, segmented there; a non-solid lesion once more from its
ground glass alone, so that vessels crossing it are not taken for it) and
measured (type, long and short axis,
mean diameter, volume, solid part, spiculation, lobulation, distance to the
pleura) and characterised: upper zone,
Lung-RADS v2022 category and Brock (PanCan) probability, with the covariates
from the DICOM header (PatientAge, PatientSex) and --clinical (see classify).
The detection score then becomes the second stage's: a logistic model over the
first-stage score, the segmented lesion's sphericity, roundness (for a lesion
on the chest wall, the larger of its own and its mirror image's in the pleura's
plane: a juxtapleural nodule is a dome) and contact with the chest wall, and the
cluster's and lesion's sizes, fitted on phantom seeds 1-20
(it ranks candidates; 0.5 is even odds on phantoms, not a patient probability).
Last, small lesions that stand free in the lung are looked for whatever the
mean-shift made of them (slices of 2.5 mm or thinner, grid of 1.25 mm or finer;
on touching slices up to 5 mm thick too, see below): after 1 mm smoothing, a
local maximum whose region, halfway from the lung around it to its peak,
closes within 8 mm and is about as wide as long (on 5 mm slices: as wide as
long in the axial plane, and along z no taller than its radius plus half a
slice and 1 mm each way, as a small ball averaged into two slices is), and at 0.35 of
the way, less the lung's own spread, is still closed, or closed at 0.35 in the
unsmoothed HU (a vessel's piece joins its vessel there, even through noise; a
lesion beside a vessel is joined to it only by the smoothing). Such a blob raises the score of the candidate
it lies in to a logistic score of its contrast, fitted on phantom seeds 1-20, or
is segmented and becomes a candidate. So, on 2.5 mm slices or thinner and that grid, do
small nodules on the wall, which smoothing merges into the wall's edge: a
piece of tissue (-400 HU and up, 8 mm3 or more) in the lung mask that touches
the mask's outside, ends within a 20 mm ball's volume, faces the lung on at
least half its surface, peaks at -200 HU or more and reaches no further than
twice its radius from its centre, and whose segmented lesion is round in the
pleura's mirror (0.5), compact (sphericity 0.6), at most 3 times as long as
wide in the axial plane and at least --min-diameter across (mean diameter),
scored by the second stage with the look's contrast score as its first-stage
score. And so does ground glass that vessels hide from the mean-shift (its
points join theirs): on 2 mm cells of the lung (HU clipped at -350, the rest
of the scan at -1000) opened by a 4 mm cube, which removes what is narrower
(vessels, fissures), a local maximum 150 HU or more over the lung around it
(the median at 10 mm) whose region at half height closes within 10 mm of its
centroid is segmented at that centroid (the 20 strongest); a non-solid or part-solid
lesion at most twice as long as wide is added, or raises the candidate holding
it, at the second stage's score with the contrast score as its first stage.
The malignancy column stays empty: 'lungctl classify' (or run) picks a scorer.

IN is a preprocess output (.nii.gz; its _lung.nii.gz is found beside it or given
with --mask), an .mhd or a DICOM folder (preprocessed in memory). The CSV has the
LUNA16 columns seriesuid,coordX,coordY,coordZ,probability first (probability =
detection score), then diameter_mm,voxels,mean_hu,mean_si,compactness,
detect_score,malignancy,patient_id,type,long_axis_mm,short_axis_mm,
mean_diameter_mm,volume_mm3,solid_diameter_mm,spiculation,upper_zone,brock,cnn,
lung_rads,lobulation,pleura_distance_mm. -o - writes the CSV to standard output.`
