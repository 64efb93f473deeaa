package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newPhantomCmd) }

// writePhantom generates one phantom patient as a DICOM series in
// dir/<patient>/ plus dir/<patient>_truth.csv and returns the chest.
func writePhantom(dir string, opt phantom.Options) (*phantom.Chest, string, error) {
	c, err := phantom.Generate(opt)
	if err != nil {
		return nil, "", err
	}
	series := filepath.Join(dir, c.PatientID)
	if err := os.MkdirAll(series, 0o755); err != nil {
		return nil, "", err
	}
	if err := phantom.WriteDICOM(series, c); err != nil {
		return nil, "", err
	}
	return c, series, nil
}

func newPhantomCmd() *cobra.Command {
	var (
		out     string
		seed    int64
		count   int
		size    string
		nodules int
		noise   float64
		minD    float64
		maxD    float64
	)
	cmd := &cobra.Command{
		Use:   "phantom -o DIR [--seed N] [--count K]",
		Short: "Write synthetic chest CT patients with known nodules as DICOM series",
		Long: `phantom writes synthetic chest CT scans as real DICOM series (Explicit VR Little
Endian, signed 16-bit, intercept -1024, padding outside the scan circle like
LIDC-IDRI): body, fat, ribs, spine, table, two lungs (-850 HU with noise), trachea
and bronchi, branching vessel trees, and nodules of known position, diameter and
shape (round, lobulated, spiculated, juxtapleural, calcified).

Each patient goes to DIR/<patient>/ (files named out of z order on purpose);
the ground truth goes to DIR/truth.csv in LUNA16 annotation columns plus
malignancy (1-5) and kind: seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind
(LPS world mm). The same seed always gives the same bytes. --size full is a
512x512 scan at 0.70 mm pixels and 2.5 mm slices; small is 128x128 at 2.5 mm.`,
		Example: `  lungctl phantom -o phantoms/ --seed 1 --count 5
  lungctl run phantoms/ -o out/ && lungctl eval --annotations phantoms/truth.csv out/candidates.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sz phantom.Size
			switch size {
			case "small":
				sz = phantom.Small
			case "full":
				sz = phantom.Full
			default:
				return usagef("--size must be small or full, not %q", size)
			}
			if count < 1 {
				return usagef("--count must be at least 1")
			}
			if err := mkdirOut(out); err != nil {
				return err
			}
			var rows []phantom.TruthRow
			for i := 0; i < count; i++ {
				c, dir, err := writePhantom(out, phantom.Options{Seed: seed + int64(i), Size: sz, Nodules: nodules,
					NoiseHU: noise, MinDiameterMM: minD, MaxDiameterMM: maxD})
				if err != nil {
					return fmt.Errorf("phantom seed %d: %w", seed+int64(i), err)
				}
				for _, n := range c.Nodules {
					rows = append(rows, phantom.TruthRow{SeriesUID: c.SeriesUID, Nodule: n})
				}
				logger.Info("wrote phantom", "dir", dir, "slices", c.HU.Dims[2], "nodules", len(c.Nodules))
			}
			return phantom.WriteTruthRows(filepath.Join(out, "truth.csv"), rows)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "output folder (required)")
	f.Int64Var(&seed, "seed", 1, "seed of the first patient; patient i uses seed+i")
	f.IntVar(&count, "count", 1, "number of patients")
	f.StringVar(&size, "size", "full", "scan size: full (512x512, 0.70 mm) or small (128x128, 2.5 mm)")
	f.IntVar(&nodules, "nodules", 0, "nodules per patient (0 = random 3-6, negative = none)")
	f.Float64Var(&noise, "noise", 0, "noise sigma in HU (0 = 20, negative = none)")
	f.Float64Var(&minD, "min-diameter", 0, "smallest nodule diameter in mm (0 = 3)")
	f.Float64Var(&maxD, "max-diameter", 0, "largest nodule diameter in mm (0 = 30)")
	cmd.MarkFlagRequired("out")
	return cmd
}
