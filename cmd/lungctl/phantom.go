package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/spf13/cobra"

	"github.com/lungctl/lungctl/internal/textsafe"
)

func init() { subcommands = append(subcommands, newPhantomCmd) }

// writePhantom generates one phantom patient as a DICOM series in
// dir/<patient>/ and returns the chest and the series folder.
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

// parseKinds turns --kinds into Options.Kinds: "" or "default" is the
// default mix (nil), "all" every kind once per cycle, otherwise a
// comma-separated list of kind names.
func parseKinds(s string) ([]phantom.Kind, error) {
	switch strings.TrimSpace(s) {
	case "", "default":
		return nil, nil
	case "all":
		return phantom.AllKinds, nil
	}
	var ks []phantom.Kind
	for _, f := range strings.Split(s, ",") {
		k := phantom.Kind(strings.TrimSpace(f))
		if !k.Valid() {
			var names []string
			for _, x := range phantom.AllKinds {
				names = append(names, string(x))
			}
			return nil, usagef("--kinds: unknown kind %q (kinds: %s, or all, or default)", f, strings.Join(names, ", "))
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func newPhantomCmd() *cobra.Command {
	var (
		out          string
		seed         int64
		count        int
		size         string
		nodules      int
		kinds        string
		noise        float64
		minD, maxD   float64
		massMin      float64
		massMax      float64
		massProb     float64
		psf          float64
		sliceFWHM    float64
		sliceMM      float64
		edge         float64
		noConfounder bool
	)
	cmd := &cobra.Command{
		Use:   "phantom -o DIR [--seed N] [--count K] [--kinds LIST]",
		Short: "Write synthetic chest CT patients with known lesions as DICOM series",
		Long:  phantomLong,
		Example: `  lungctl phantom -o phantoms/ --seed 1 --count 5
  lungctl phantom -o gg/ --kinds groundglass,partsolid --nodules 4 --noise 25
  lungctl phantom -o masses/ --kinds mass --nodules 1 --mass-max-diameter 50
  lungctl phantom -o sharp/ --seed 1201 --count 20 --edge-enhance 2 --noise 60
  lungctl run phantoms/ -o out/ && lungctl eval --annotations phantoms/truth.csv out/candidates.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := folderOut("phantom", "-o", out); err != nil {
				return err
			}
			var sz phantom.Size
			switch size {
			case "small":
				sz = phantom.Small
			case "full":
				sz = phantom.Full
			default:
				return usagef("--size must be small or full, not %q", size)
			}
			if count < 1 || count > 100000 {
				return usagef("--count must be between 1 and 100000, not %d", count)
			}
			if nodules > 100 {
				return usagef("--nodules must be at most 100, not %d", nodules)
			}
			for _, fl := range []struct {
				name string
				v    float64
			}{{"noise", noise}, {"min-diameter", minD}, {"max-diameter", maxD}, {"mass-min-diameter", massMin},
				{"mass-max-diameter", massMax}, {"mass-probability", massProb}, {"psf-fwhm", psf}, {"slice-fwhm", sliceFWHM}, {"slice-spacing", sliceMM},
				{"edge-enhance", edge}} {
				if math.IsNaN(fl.v) || math.IsInf(fl.v, 0) {
					return usagef("--%s: %v is not a number", fl.name, fl.v)
				}
			}
			ks, err := parseKinds(kinds)
			if err != nil {
				return err
			}
			opt := phantom.Options{Size: sz, Nodules: nodules, Kinds: ks, NoiseHU: noise,
				MinDiameterMM: minD, MaxDiameterMM: maxD, MassMinDiameterMM: massMin, MassMaxDiameterMM: massMax,
				MassProbability: massProb, PSFFWHMPixels: psf, SliceProfileFWHMMM: sliceFWHM, SliceSpacingMM: sliceMM, EdgeEnhance: edge, NoConfounders: noConfounder}
			if err := opt.Validate(); err != nil {
				return usagef("phantom: %s (see lungctl phantom --help for each flag's range)", strings.TrimPrefix(err.Error(), "phantom: "))
			}
			return writePhantoms(out, opt, seed, count)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "output folder, new or empty (required; - is refused: phantom writes a folder)")
	f.Int64Var(&seed, "seed", 1, "seed of the first patient; patient i uses seed+i")
	f.IntVar(&count, "count", 1, "number of patients, 1-100000")
	f.StringVar(&size, "size", "full", "scan size: full (512x512, 0.70 mm) or small (128x128, 2.5 mm)")
	f.IntVar(&nodules, "nodules", 0, "lesions per patient, at most 100 (0 = random 4-7, negative = none)")
	f.StringVar(&kinds, "kinds", "default", "lesion kinds: default (the mix), all, or a comma-separated list of round, lobulated, spiculated, juxtapleural, calcified, groundglass, partsolid, mass, juxtavascular")
	f.Float64Var(&noise, "noise", 0, "noise standard deviation in HU after filtering, at most 500 (0 = 20, negative = none)")
	f.Float64Var(&minD, "min-diameter", 0, "smallest nodule diameter in mm (0 = 3)")
	f.Float64Var(&maxD, "max-diameter", 0, "largest nodule diameter in mm, at most 60 (0 = 30)")
	f.Float64Var(&massMin, "mass-min-diameter", 0, "smallest mass diameter in mm, at least 20 (0 = 30)")
	f.Float64Var(&massMax, "mass-max-diameter", 0, "largest mass diameter in mm, at most 100 (0 = 80)")
	f.Float64Var(&massProb, "mass-probability", 0, "chance that a patient of the default mix has a mass, at most 1 (0 = 0.4, negative = never)")
	f.Float64Var(&psf, "psf-fwhm", 0, "in-plane point-spread function FWHM in pixels, at most 10 (0 = 1.5, negative = none)")
	f.Float64Var(&sliceFWHM, "slice-fwhm", 0, "slice sensitivity profile FWHM in mm, at most 20 (0 = the slice spacing, negative = a box)")
	f.Float64Var(&sliceMM, "slice-spacing", 0, "slice spacing and thickness in mm, 0.625 to 5 (0 = 2.5); the z extent stays, the slice count changes")
	f.Float64Var(&edge, "edge-enhance", 0, "the reconstruction kernel's edge enhancement, 0-3: an unsharp mask of that amount after the PSF (0 = none, a standard kernel; 1 about a lung kernel, 2 a bone kernel)")
	f.BoolVar(&noConfounder, "no-confounders", false, "leave out the dependent lung density and the scars")
	return cmd
}

// writePhantoms writes count patients, seeds seed, seed+1, ..., into out
// (new or empty: see emptyOut) and their lesions into out/truth.csv.
func writePhantoms(out string, opt phantom.Options, seed int64, count int) (err error) {
	if err := emptyOut("phantom", out); err != nil {
		return err
	}
	_, statErr := os.Stat(out)
	if err := mkdirOut(out); err != nil {
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A folder made here and left empty by a failure (the first
		// patient over the memory budget) goes again; os.Remove leaves
		// one that holds anything.
		defer func() {
			if err != nil {
				_ = os.Remove(out)
			}
		}()
	}
	var rows []phantom.TruthRow
	for i := 0; i < count; i++ {
		opt.Seed = seed + int64(i)
		c, dir, err := writePhantom(out, opt)
		if err != nil {
			if errors.Is(err, phantom.ErrNoRoom) {
				return fmt.Errorf("phantom seed %d: %w (fewer or smaller lesions will fit)", opt.Seed, err)
			}
			return fmt.Errorf("phantom seed %d: %w", opt.Seed, err)
		}
		for _, n := range c.Nodules {
			rows = append(rows, phantom.TruthRow{SeriesUID: c.SeriesUID, Nodule: n})
		}
		logger.Info("wrote phantom", "dir", dir, "slices", c.HU.Dims[2], "lesions", len(c.Nodules))
	}
	return phantom.WriteTruthRows(filepath.Join(out, "truth.csv"), rows)
}

// phantomLong is the command's --help text.
const phantomLong = `phantom writes synthetic chest CT scans as real DICOM series (Explicit VR Little
Endian, signed 16-bit, intercept -1024, padding outside the scan circle like
LIDC-IDRI): body, fat, ribs, spine, table, two lungs (-850 HU, denser in the
dependent dorsal lung), trachea and bronchi, branching vessel trees, scars, and
lesions of known position, size and type:

  round, lobulated, spiculated, juxtapleural, calcified  solid nodules, 3-30 mm
  groundglass   non-solid, 5-30 mm, -750...-450 HU, soft irregular margin
  partsolid     ground glass 8-30 mm with a 2-15 mm solid core
  mass          30-80 mm, lobulated and/or spiculated, on the chest wall,
                the mediastinum or in the lung
  juxtavascular a round solid nodule, 3-30 mm, against a vessel of 1-3 mm
                radius that runs along its side (only with --kinds)

By default each patient gets 4-7 lesions of the first eight kinds (a mass in
40 % of patients); --kinds fixes them (lesion n gets the n-th kind of the list,
cycling). The scan is rendered like a scanner's: partial volume, a Gaussian
point-spread function (--psf-fwhm pixels), a Gaussian slice profile
(--slice-fwhm mm) and noise filtered like a reconstruction kernel (--noise HU,
its standard deviation); --edge-enhance adds a sharp kernel's edge
enhancement (an unsharp mask: edges overshoot, small dense objects peak
higher, the noise is finer).

Each patient goes to DIR/<patient>/ (files named out of z order on purpose);
the ground truth goes to DIR/truth.csv: LUNA16's annotation columns (LPS world
mm), then malignancy (1-5), kind, type (solid, part-solid, non-solid,
calcified), solid_diameter_mm, long_axis_mm and short_axis_mm (Lung-RADS axial
diameters), volume_mm3, spiculated (0/1) and location (parenchyma,
juxtapleural, mediastinal). The same options and seed always give the same
bytes. --size full is a 512x512 scan at 0.70 mm pixels and 2.5 mm slices;
small is 128x128 at 2.5 mm. --slice-spacing reconstructs the same extent on
thinner or thicker slices (0.625-5 mm), to check that results hold on other
acquisitions.`

// emptyOut refuses an output folder that exists and holds anything: the
// phantoms and truth.csv written there must describe every scan in it. An
// earlier --count 2 left PHANTOM-2 beside a later --count 1's truth (run
// then scored both), and a series written again at another slice spacing
// kept the old slices under the same series UID.
func emptyOut(cmdName, dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: -o %s: %w", cmdName, dir, err)
	case len(ents) > 0:
		return fmt.Errorf("%s: -o %s is not empty (%d entries, e.g. %s): give a new or empty folder, so that its truth.csv describes every scan in it",
			cmdName, dir, len(ents), textsafe.Escape(ents[0].Name()))
	}
	return nil
}
