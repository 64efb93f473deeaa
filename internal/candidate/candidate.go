// Package candidate defines a nodule candidate and its CSV form, the contract
// between detect, classify, eval and run. Positions are LPS world mm, the
// frame LUNA16 uses for coordX/Y/Z.
package candidate

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
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
	// Malignancy is the classifier's probability in [0,1]; NaN until
	// classify has run.
	Malignancy float64
}

// Header is the CSV header: the LUNA16 submission columns first, then ours.
var Header = []string{"seriesuid", "coordX", "coordY", "coordZ", "probability",
	"diameter_mm", "voxels", "mean_hu", "mean_si", "compactness", "detect_score", "malignancy"}

func f(x float64, prec int) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// Write writes cs as CSV with Header to w.
func Write(w io.Writer, cs []Candidate) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, c := range cs {
		rec := []string{c.SeriesUID, f(c.World[0], 3), f(c.World[1], 3), f(c.World[2], 3), f(c.Probability, 6),
			f(c.DiameterMM, 2), strconv.Itoa(c.Voxels), f(c.MeanHU, 1), f(c.MeanSI, 4), f(c.Compactness, 4),
			f(c.DetectScore, 6), f(c.Malignancy, 6)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteFile writes cs to path atomically.
func WriteFile(path string, cs []Candidate) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, cs) })
}

// Read parses a candidates CSV. Only seriesuid, coordX, coordY, coordZ are
// required (any LUNA16 candidates or submission file is accepted: a missing
// probability reads as 0, other missing columns as zero or NaN); columns are
// found by name, in any order. name is used in error messages.
func Read(r io.Reader, name string) ([]Candidate, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, req := range []string{"seriesuid", "coordX", "coordY", "coordZ"} {
		if _, ok := col[req]; !ok {
			return nil, fmt.Errorf("%s: missing column %q (have %v)", name, req, head)
		}
	}
	var out []Candidate
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		get := func(k string, def float64) (float64, error) {
			i, ok := col[k]
			if !ok || i >= len(rec) || strings.TrimSpace(rec[i]) == "" {
				return def, nil
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: line %d: column %s: %w", name, line, k, err)
			}
			return v, nil
		}
		var c Candidate
		c.SeriesUID = strings.TrimSpace(rec[col["seriesuid"]])
		vals := []struct {
			k   string
			def float64
			dst *float64
		}{{"coordX", 0, &c.World[0]}, {"coordY", 0, &c.World[1]}, {"coordZ", 0, &c.World[2]},
			{"probability", 0, &c.Probability}, {"diameter_mm", math.NaN(), &c.DiameterMM},
			{"mean_hu", math.NaN(), &c.MeanHU}, {"mean_si", math.NaN(), &c.MeanSI},
			{"compactness", math.NaN(), &c.Compactness}, {"detect_score", math.NaN(), &c.DetectScore},
			{"malignancy", math.NaN(), &c.Malignancy}}
		for _, v := range vals {
			x, err := get(v.k, v.def)
			if err != nil {
				return nil, err
			}
			*v.dst = x
		}
		nv, err := get("voxels", 0)
		if err != nil {
			return nil, err
		}
		c.Voxels = int(nv)
		for a := 0; a < 3; a++ {
			if math.IsNaN(c.World[a]) || math.IsInf(c.World[a], 0) {
				return nil, fmt.Errorf("%s: line %d: non-finite coordinate", name, line)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// ReadFile reads a candidates CSV from path.
func ReadFile(path string) ([]Candidate, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Read(fh, path)
}

// SortByProbability orders cs by descending Probability (stable).
func SortByProbability(cs []Candidate) {
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].Probability > cs[b].Probability })
}
