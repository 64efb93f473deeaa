// Package candidate defines a nodule candidate and its CSV form, the contract
// between detect, classify, eval and run. Positions are LPS world mm, the
// frame LUNA16 uses for coordX/Y/Z.
package candidate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"unsafe"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/csvio"
)

// Candidate is one detected nodule candidate.
type Candidate struct {
	// SeriesUID identifies the scan (LUNA16 seriesuid; for DICOM folders the
	// SeriesInstanceUID, for other inputs the file's base name).
	SeriesUID string
	// World is the candidate centre in LPS world mm (coordX, coordY, coordZ).
	World [3]float64
	// Probability is the ranking score in [0,1] written to the LUNA16
	// probability column: the detector's score, or the classifier's
	// malignancy once classify has run.
	Probability float64
	// DiameterMM is the diameter in mm of a sphere with the cluster's volume.
	DiameterMM float64
	// Voxels is the number of 1 mm voxels in the cluster.
	Voxels int
	// MeanHU is the mean Hounsfield value over the cluster's voxels.
	MeanHU float64
	// MeanSI is the mean volumetric shape index in [0,1] over the cluster.
	MeanSI float64
	// Compactness is 1 for a ball, smaller for elongated or irregular
	// clusters (the detector documents its definition).
	Compactness float64
	// DetectScore is the detector's own score in [0,1].
	DetectScore float64
	// Malignancy is the per-candidate probability of malignancy in [0,1]
	// from the chosen scorer (Brock by default, the CNN, or both fused);
	// NaN until scored.
	Malignancy float64
	// PatientID is the scan's output id (the Kaggle patient folder name or
	// the file stem, as in submission.csv), so rows of several scans stay
	// attributable; empty when unknown.
	PatientID string

	// The measurements of the lesion segmented at the candidate
	// (internal/nodule); Type is "" and the numbers NaN when none could be
	// segmented there.

	// Type is the density class: solid, part-solid, non-solid or calcified.
	Type string
	// LongAxisMM and ShortAxisMM are the Lung-RADS axial diameters (mm):
	// the longest in-plane diameter on the slice where it is longest and
	// the longest perpendicular to it; MeanDiameterMM is their mean.
	LongAxisMM, ShortAxisMM, MeanDiameterMM float64
	// VolumeMM3 is the segmented lesion's volume in mm³.
	VolumeMM3 float64
	// SolidDiameterMM is the mean diameter (mm) of the largest solid
	// component (denser than −300 HU); 0 when there is none.
	SolidDiameterMM float64
	// Spiculation in [0,1] grows with the thin strands leaving the lesion.
	Spiculation float64
	// UpperZone is true in the upper third of that lung's height (the
	// proxy for the Brock model's upper lobe; see nodule.Zones).
	UpperZone bool
	// Brock is the Brock (PanCan) full-model probability of malignancy in
	// [0,1]; NaN for calcified lesions and when not computed.
	Brock float64
	// CNN is the 3-D CNN's malignancy probability in [0,1]; NaN when not
	// run.
	CNN float64
	// LungRADS is the Lung-RADS v2022 baseline category ("2", "3", "4A",
	// "4B", "4X"; "1" for calcified), "" when not measured.
	LungRADS string
	// Lobulation in [0,1] grows with the lesion's bumps of a few mm
	// (departure from its moment ellipsoid; see nodule.Result).
	Lobulation float64
	// PleuraDistanceMM is the distance (mm) from the lesion to the nearest
	// voxel outside the lung mask (pleura, mediastinum, diaphragm): 0 when
	// it touches; measured up to nodule.PleuraReachMM (15 mm), and that
	// value means "15 mm or more".
	PleuraDistanceMM float64
}

// Header is the CSV header: the LUNA16 submission columns first, then ours.
var Header = []string{"seriesuid", "coordX", "coordY", "coordZ", "probability",
	"diameter_mm", "voxels", "mean_hu", "mean_si", "compactness", "detect_score", "malignancy", "patient_id",
	"type", "long_axis_mm", "short_axis_mm", "mean_diameter_mm", "volume_mm3", "solid_diameter_mm",
	"spiculation", "upper_zone", "brock", "cnn", "lung_rads", "lobulation", "pleura_distance_mm"}

// numeric are the columns of Header that hold numbers (the others are text,
// which csvio keeps from starting a spreadsheet formula).
var numeric = append(append(append([]string(nil), Header[1:12]...), Header[14:23]...), Header[24:26]...)

func f(x float64, prec int) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// Write writes cs as CSV with Header to w (positions in mm to 0.001 mm).
func Write(w io.Writer, cs []Candidate) error {
	cw, err := csvio.NewWriter(w, Header, numeric...)
	if err != nil {
		return err
	}
	for _, c := range cs {
		err := cw.Write(c.SeriesUID, f(c.World[0], 3), f(c.World[1], 3), f(c.World[2], 3), f(c.Probability, 6),
			f(c.DiameterMM, 2), strconv.Itoa(c.Voxels), f(c.MeanHU, 1), f(c.MeanSI, 4), f(c.Compactness, 4),
			f(c.DetectScore, 6), f(c.Malignancy, 6), c.PatientID,
			c.Type, m(c, c.LongAxisMM, 1), m(c, c.ShortAxisMM, 1), m(c, c.MeanDiameterMM, 1), m(c, c.VolumeMM3, 0),
			m(c, c.SolidDiameterMM, 1), m(c, c.Spiculation, 3), zone(c), f(c.Brock, 6), f(c.CNN, 6), c.LungRADS,
			m(c, c.Lobulation, 3), m(c, c.PleuraDistanceMM, 1))
		if err != nil {
			return err
		}
	}
	return cw.Flush()
}

// m writes a measurement, empty when the candidate was not measured.
func m(c Candidate, x float64, prec int) string {
	if c.Type == "" {
		return ""
	}
	return f(x, prec)
}

// zone writes UpperZone as 0/1, empty when the candidate was not measured.
func zone(c Candidate) string {
	switch {
	case c.Type == "":
		return ""
	case c.UpperZone:
		return "1"
	default:
		return "0"
	}
}

// WriteFile writes cs to path atomically.
func WriteFile(path string, cs []Candidate) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, cs) })
}

// Read parses a candidates CSV. Only seriesuid, coordX, coordY, coordZ are
// required (any LUNA16 candidates or submission file is accepted: a missing
// probability column reads as 0, other missing columns as zero, NaN or
// empty; an empty cell of a probability column present is an error);
// columns are found by name, in any order. name is used in error messages.
func Read(r io.Reader, name string) ([]Candidate, error) {
	cr, err := csvio.NewReader(r, name)
	if err != nil {
		return nil, err
	}
	if err := cr.Require("seriesuid", "coordX", "coordY", "coordZ"); err != nil {
		return nil, err
	}
	scored := cr.Has("probability")
	cr.Hold(unsafe.Sizeof(Candidate{}))
	var out []Candidate
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		c, err := parseRow(row, scored)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// parseRow reads one candidate from a row; coordinates must be finite, and
// so must the probability when the file has that column (scored: a file
// that gives scores gives every candidate one, or its ranking is a guess).
// A value column's NaN or Inf written out is refused (lungctl writes an
// unknown as an empty cell).
func parseRow(row csvio.Row, scored bool) (Candidate, error) {
	c := Candidate{SeriesUID: row.Get("seriesuid"), PatientID: row.Get("patient_id"),
		Type: row.Get("type"), LungRADS: row.Get("lung_rads"), UpperZone: row.Get("upper_zone") == "1"}
	var err error
	if c.World, err = row.World(); err != nil {
		return c, err
	}
	vals := []struct {
		k   string
		def float64
		dst *float64
	}{{"probability", 0, &c.Probability}, {"diameter_mm", math.NaN(), &c.DiameterMM},
		{"mean_hu", math.NaN(), &c.MeanHU}, {"mean_si", math.NaN(), &c.MeanSI},
		{"compactness", math.NaN(), &c.Compactness}, {"detect_score", math.NaN(), &c.DetectScore},
		{"malignancy", math.NaN(), &c.Malignancy}, {"long_axis_mm", math.NaN(), &c.LongAxisMM},
		{"short_axis_mm", math.NaN(), &c.ShortAxisMM}, {"mean_diameter_mm", math.NaN(), &c.MeanDiameterMM},
		{"volume_mm3", math.NaN(), &c.VolumeMM3}, {"solid_diameter_mm", math.NaN(), &c.SolidDiameterMM},
		{"spiculation", math.NaN(), &c.Spiculation}, {"brock", math.NaN(), &c.Brock}, {"cnn", math.NaN(), &c.CNN},
		{"lobulation", math.NaN(), &c.Lobulation}, {"pleura_distance_mm", math.NaN(), &c.PleuraDistanceMM}}
	for _, v := range vals {
		if *v.dst, err = row.Float(v.k, v.def); err != nil {
			return c, err
		}
		if x := *v.dst; (math.IsNaN(x) || math.IsInf(x, 0)) && row.Get(v.k) != "" {
			return c, row.Errorf("column %s: want a finite number or an empty cell, got %q", v.k, row.Get(v.k))
		}
	}
	if scored && row.Get("probability") == "" {
		return c, row.Errorf("column probability: empty; every candidate needs a score (a finite number)")
	}
	// Sizes are not negative and scores of malignancy and shape lie in
	// [0,1] (empty reads as NaN, unknown): a row that breaks this was not
	// written by lungctl or by any model of these quantities, and would
	// be scored as if it were right.
	for _, k := range []struct {
		name string
		v    float64
		unit bool
	}{{"diameter_mm", c.DiameterMM, false}, {"long_axis_mm", c.LongAxisMM, false}, {"short_axis_mm", c.ShortAxisMM, false},
		{"mean_diameter_mm", c.MeanDiameterMM, false}, {"volume_mm3", c.VolumeMM3, false},
		{"solid_diameter_mm", c.SolidDiameterMM, false}, {"pleura_distance_mm", c.PleuraDistanceMM, false},
		{"malignancy", c.Malignancy, true}, {"spiculation", c.Spiculation, true}, {"brock", c.Brock, true},
		{"cnn", c.CNN, true}, {"lobulation", c.Lobulation, true}} {
		if k.v < 0 || k.unit && k.v > 1 {
			want := "a size, not negative"
			if k.unit {
				want = "a score in [0,1]"
			}
			return c, row.Errorf("column %s: %v is not %s", k.name, k.v, want)
		}
	}
	nv, err := row.Float("voxels", 0)
	if err != nil {
		return c, err
	}
	if !(nv >= 0 && nv <= math.MaxInt32) {
		return c, row.Errorf("column voxels: %v is not a voxel count", nv)
	}
	c.Voxels = int(nv)
	return c, nil
}

// ReadFile reads a candidates CSV from path.
func ReadFile(path string) ([]Candidate, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("candidates: %w", err)
	}
	defer fh.Close()
	return Read(fh, path)
}

// SortByProbability orders cs by descending Probability (stable).
func SortByProbability(cs []Candidate) {
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].Probability > cs[b].Probability })
}
