// Package export writes lungctl's findings in the formats radiologists'
// tools open:
//
//   - WriteMarkups: a 3D Slicer markups point list (.mrk.json), one control
//     point per finding at its centre, LPS mm;
//   - WriteLabelMap: the label volume as NIfTI, for ITK-SNAP and Slicer to
//     overlay on lungctl's <id>.nii.gz;
//   - WriteSEG: a DICOM Segmentation (BINARY, one segment per finding) on the
//     source series' own slices, in the source study;
//   - WriteSR: a DICOM Comprehensive 3D SR, TID 1500 Measurement Report with
//     one measurement group per finding, in the source study.
//
// Units and frames, everywhere in this package: positions are DICOM patient
// (LPS) world millimetres, lengths are mm, volumes mm³; voxel indices are
// those of internal/volume (x fastest). The DICOM writers need the source
// series' references (dicomio.ReadRefs, or SourceRefs here); when the scan
// did not come from DICOM they return ErrNoDICOMSource.
//
// Every file is written atomically (internal/atomicfile): the final name
// only ever holds a complete file.
package export

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/lungctl/lungctl/internal/volume"
)

// Finding is one reported nodule candidate. Positions are LPS world mm.
type Finding struct {
	// Rank is 1-based (1 = most suspicious); it is also the voxel value of
	// the finding in label volumes and its DICOM SEG segment number, so it
	// must be 1..255 and unique within a report.
	Rank int
	// Label is a short name shown next to the finding, e.g. "N1"; empty
	// means "N<Rank>".
	Label string
	// CentreLPS is the finding's centre in LPS world mm.
	CentreLPS [3]float64
	// LongAxisMM and ShortAxisMM are the longest in-plane diameter and the
	// longest diameter perpendicular to it, in mm; MeanDiameterMM is their
	// mean (Lung-RADS "mean diameter"), in mm; VolumeMM3 is the volume in
	// mm³; SolidDiameterMM is the mean diameter of the solid component of a
	// part-solid nodule, in mm. NaN means unknown (the value is omitted).
	LongAxisMM, ShortAxisMM, MeanDiameterMM, VolumeMM3, SolidDiameterMM float64
	// Type is the nodule type: "solid", "part-solid", "non-solid",
	// "calcified" or "" (unknown).
	Type string
	// LungRADS is the Lung-RADS category: "2", "3", "4A", "4B", "4X" or ""
	// (not assessed).
	LungRADS string
	// Brock is the Brock (PanCan) malignancy probability, CNN the CNN
	// malignancy score and Spiculation the spiculation score, each in 0..1;
	// NaN means not computed.
	Brock, CNN, Spiculation float64
	// Lobulation is the lobulation score in 0..1 and PleuraDistanceMM the
	// distance (mm) from the nodule to the pleura, mediastinum or
	// diaphragm (0 touching); NaN means not computed. PleuraBeyond says
	// the distance is a lower bound (nothing within it).
	Lobulation, PleuraDistanceMM float64
	PleuraBeyond                 bool
	// Description is free text added to the finding's description.
	Description string
}

// Sentinel errors; returned errors wrap them and name the file.
var (
	// ErrNoDICOMSource reports a DICOM export asked for a scan that did not
	// come from a DICOM series (a NIfTI or MetaImage input), or without its
	// references.
	ErrNoDICOMSource = errors.New("DICOM export needs a DICOM source series")
	// ErrFindings reports findings that cannot be exported: a rank outside
	// 1..255 or used twice, a non-finite centre, an unknown type or
	// Lung-RADS category, a score outside 0..1.
	ErrFindings = errors.New("invalid findings")
	// ErrLabels reports a label volume that does not fit the findings (a
	// voxel value no finding has as its rank) or has an invalid grid.
	ErrLabels = errors.New("label volume does not fit the findings")
	// ErrEmpty reports a segmentation with no labelled voxel on any source
	// slice: a DICOM SEG needs at least one frame.
	ErrEmpty = errors.New("segmentation has no labelled pixel on the source slices")
)

// nodule types and Lung-RADS categories accepted in Finding.
var (
	noduleTypes = map[string]bool{"": true, "solid": true, "part-solid": true, "non-solid": true, "calcified": true}
	lungRADS    = map[string]bool{"": true, "2": true, "3": true, "4A": true, "4B": true, "4X": true}
)

// label returns the finding's display label.
func (f *Finding) label() string {
	if l := strings.TrimSpace(f.Label); l != "" {
		return l
	}
	return fmt.Sprintf("N%d", f.Rank)
}

// checkFindings validates findings (see ErrFindings) and returns them
// indexed by rank.
func checkFindings(fs []Finding) (map[int]*Finding, error) {
	byRank := make(map[int]*Finding, len(fs))
	for i := range fs {
		f := &fs[i]
		if f.Rank < 1 || f.Rank > 255 {
			return nil, fmt.Errorf("%w: finding %d has rank %d, want 1..255", ErrFindings, i, f.Rank)
		}
		if byRank[f.Rank] != nil {
			return nil, fmt.Errorf("%w: rank %d used twice", ErrFindings, f.Rank)
		}
		byRank[f.Rank] = f
		for _, c := range f.CentreLPS {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return nil, fmt.Errorf("%w: finding %s has centre %v mm", ErrFindings, f.label(), f.CentreLPS)
			}
		}
		if !noduleTypes[f.Type] {
			return nil, fmt.Errorf("%w: finding %s has type %q (want solid, part-solid, non-solid, calcified or empty)", ErrFindings, f.label(), f.Type)
		}
		if !lungRADS[f.LungRADS] {
			return nil, fmt.Errorf("%w: finding %s has Lung-RADS %q (want 2, 3, 4A, 4B, 4X or empty)", ErrFindings, f.label(), f.LungRADS)
		}
		for _, s := range []struct {
			name string
			v    float64
		}{{"Brock", f.Brock}, {"CNN", f.CNN}, {"spiculation", f.Spiculation}, {"lobulation", f.Lobulation}} {
			if !math.IsNaN(s.v) && !(s.v >= 0 && s.v <= 1) {
				return nil, fmt.Errorf("%w: finding %s has %s score %g, want 0..1 or NaN", ErrFindings, f.label(), s.name, s.v)
			}
		}
		for _, m := range []struct {
			name string
			v    float64
		}{{"long axis", f.LongAxisMM}, {"short axis", f.ShortAxisMM}, {"mean diameter", f.MeanDiameterMM},
			{"volume", f.VolumeMM3}, {"solid diameter", f.SolidDiameterMM}, {"pleura distance", f.PleuraDistanceMM}} {
			if !math.IsNaN(m.v) && !(m.v >= 0 && !math.IsInf(m.v, 0)) {
				return nil, fmt.Errorf("%w: finding %s has %s %g, want ≥ 0 or NaN", ErrFindings, f.label(), m.name, m.v)
			}
		}
	}
	return byRank, nil
}

// known reports whether a measurement or score is present (not NaN).
func known(v float64) bool { return !math.IsNaN(v) }

// Summary is the finding's one-line human description: measurements (mm,
// mm³), type, Lung-RADS category, scores and the free text, omitting what is
// unknown, e.g. "long axis 23.4 mm, short axis 18.0 mm, mean diameter
// 20.7 mm, volume 5123 mm³, distance to pleura 4.5 mm; part-solid;
// Lung-RADS 4B; Brock 0.31, lobulation 0.20".
func (f *Finding) Summary() string { return f.summary(true) }

// summary is Summary; with unicode false it writes "mm3" for "mm³" (DICOM
// text stays 7-bit ASCII).
func (f *Finding) summary(unicode bool) string {
	cubic := "mm³"
	if !unicode {
		cubic = "mm3"
	}
	var parts []string
	var meas []string
	add := func(name string, v float64, unit string, prec int) {
		if known(v) {
			meas = append(meas, fmt.Sprintf("%s %.*f %s", name, prec, v, unit))
		}
	}
	add("long axis", f.LongAxisMM, "mm", 1)
	add("short axis", f.ShortAxisMM, "mm", 1)
	add("mean diameter", f.MeanDiameterMM, "mm", 1)
	add("volume", f.VolumeMM3, cubic, 0)
	add("solid component", f.SolidDiameterMM, "mm", 1)
	if f.PleuraBeyond {
		add("distance to pleura at least", f.PleuraDistanceMM, "mm", 0)
	} else {
		add("distance to pleura", f.PleuraDistanceMM, "mm", 1)
	}
	if len(meas) > 0 {
		parts = append(parts, strings.Join(meas, ", "))
	}
	if f.Type != "" {
		parts = append(parts, f.Type)
	}
	if f.LungRADS != "" {
		parts = append(parts, "Lung-RADS "+f.LungRADS)
	}
	var scores []string
	for _, s := range []struct {
		name string
		v    float64
	}{{"Brock", f.Brock}, {"CNN", f.CNN}, {"spiculation", f.Spiculation}, {"lobulation", f.Lobulation}} {
		if known(s.v) {
			scores = append(scores, fmt.Sprintf("%s %.2f", s.name, s.v))
		}
	}
	if len(scores) > 0 {
		parts = append(parts, strings.Join(scores, ", "))
	}
	if d := strings.TrimSpace(f.Description); d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ")
}

// checkLabels validates a label volume against the findings: a valid grid,
// and every non-zero voxel value the rank of a finding. It returns the
// index bounding box [lo, hi] (inclusive) of the non-zero voxels, ok false
// when there are none.
func checkLabels(labels *volume.Volume[uint8], byRank map[int]*Finding) (lo, hi [3]int, ok bool, err error) {
	if labels == nil {
		return lo, hi, false, fmt.Errorf("%w: nil label volume", ErrLabels)
	}
	if err := labels.Check(); err != nil {
		return lo, hi, false, fmt.Errorf("%w: %w", ErrLabels, err)
	}
	nx, ny, nz := labels.Dims[0], labels.Dims[1], labels.Dims[2]
	zero := make([]byte, nx)
	var seen [256]bool
	lo = [3]int{nx, ny, nz}
	hi = [3]int{-1, -1, -1}
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			row := labels.Data[nx*(j+ny*k) : nx*(j+ny*k)+nx]
			if string(row) == string(zero) { // memcmp, no allocation
				continue
			}
			for i, v := range row {
				if v == 0 {
					continue
				}
				seen[v] = true
				lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
				hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
			}
		}
	}
	for v := 1; v < 256; v++ {
		if seen[v] && byRank[v] == nil {
			return lo, hi, false, fmt.Errorf("%w: voxels hold label %d but no finding has rank %d", ErrLabels, v, v)
		}
	}
	return lo, hi, hi[0] >= 0, nil
}
