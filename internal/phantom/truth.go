package phantom

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/volume"
)

// TruthHeader is the header row of the truth CSV: LUNA16's annotations
// columns (LPS world mm), the malignancy rating and the kind, then
//
//   - type: solid, part-solid, non-solid or calcified (NoduleType);
//   - solid_diameter_mm: the solid component's diameter (0 for non-solid);
//   - long_axis_mm, short_axis_mm: Lung-RADS axial diameters of the true
//     body (see Nodule);
//   - volume_mm3: the true volume;
//   - spiculated: 0 or 1;
//   - location: parenchyma, juxtapleural or mediastinal.
//
// Numbers are written in full (strconv's shortest form that reads back to
// the same float64), so nothing is rounded away.
var TruthHeader = []string{"seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "malignancy", "kind",
	"type", "solid_diameter_mm", "long_axis_mm", "short_axis_mm", "volume_mm3", "spiculated", "location"}

// truthHeaderV1 is the header of truth CSVs written before the measurement
// columns existed; ReadTruth still reads them.
var truthHeaderV1 = TruthHeader[:7]

// ErrTruthFormat reports a truth CSV that does not have TruthHeader's
// columns (or the older seven) or has an unparsable row.
var ErrTruthFormat = errors.New("phantom: bad truth CSV")

// TruthRow is one parsed row of a truth CSV.
type TruthRow struct {
	// SeriesUID is the row's seriesuid column.
	SeriesUID string
	// Nodule holds the centre (LPS mm), diameters (mm), kind, rating and
	// measurements.
	Nodule
}

// WriteTruth writes the nodules of one series as a truth CSV (TruthHeader)
// atomically.
func WriteTruth(path string, seriesUID string, ns []Nodule) error {
	rows := make([]TruthRow, len(ns))
	for i, n := range ns {
		rows[i] = TruthRow{SeriesUID: seriesUID, Nodule: n}
	}
	return WriteTruthRows(path, rows)
}

// fnum formats x in full: the shortest decimal that parses back to x.
func fnum(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// WriteTruthRows writes nodules of several series as one truth CSV, in the
// same format as WriteTruth, atomically.
func WriteTruthRows(path string, rows []TruthRow) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(TruthHeader); err != nil {
			return err
		}
		for _, r := range rows {
			n := r.Nodule
			sp := "0"
			if n.Spiculated {
				sp = "1"
			}
			rec := []string{
				r.SeriesUID, fnum(n.World[0]), fnum(n.World[1]), fnum(n.World[2]), fnum(n.DiameterMM),
				strconv.Itoa(n.Malignancy), string(n.Kind), string(n.Type), fnum(n.SolidDiameterMM),
				fnum(n.LongAxisMM), fnum(n.ShortAxisMM), fnum(n.VolumeMM3), sp, string(n.Location),
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	return nil
}

// ReadTruth parses a truth CSV written by WriteTruth, or by its earlier
// version with only the first seven columns (then Type, Spiculated and
// Location follow from the kind, SolidDiameterMM is the diameter for solid
// kinds, and the axes and volume are 0). Malignant is derived from the
// rating (≥ 4).
func ReadTruth(path string) ([]TruthRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("phantom: %s: %w: %w", path, ErrTruthFormat, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("phantom: %s: %w: empty", path, ErrTruthFormat)
	}
	head := strings.Join(recs[0], ",")
	v1 := head == strings.Join(truthHeaderV1, ",")
	if !v1 && head != strings.Join(TruthHeader, ",") {
		return nil, fmt.Errorf("phantom: %s: %w: header is not %s", path, ErrTruthFormat, strings.Join(TruthHeader, ","))
	}
	var out []TruthRow
	for i, r := range recs[1:] {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("phantom: %s: row %d: %w: %s", path, i+2, ErrTruthFormat, fmt.Sprintf(format, a...))
		}
		float := func(c int) (float64, error) {
			x, err := strconv.ParseFloat(r[c], 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, bad("column %s: %q is not a number", recs[0][c], r[c])
			}
			return x, nil
		}
		var v [4]float64
		for c := 0; c < 4; c++ {
			if v[c], err = float(c + 1); err != nil {
				return nil, err
			}
		}
		m, err := strconv.Atoi(r[5])
		if err != nil || m < 1 || m > 5 || !Kind(r[6]).Valid() {
			return nil, bad("malignancy %q kind %q", r[5], r[6])
		}
		k := Kind(r[6])
		n := Nodule{World: volume.Vec3{v[0], v[1], v[2]}, DiameterMM: v[3], Kind: k, Malignancy: m, Malignant: m >= 4}
		if v1 {
			n.Type = TypeOf(k)
			n.Spiculated = k == Spiculated
			n.Location = LocationParenchyma
			if k == Juxtapleural {
				n.Location = LocationJuxtapleural
			}
			switch n.Type {
			case TypeSolid, TypeCalcified:
				n.SolidDiameterMM = n.DiameterMM
			case TypePartSolid:
				n.SolidDiameterMM = n.DiameterMM / 2
			}
			out = append(out, TruthRow{SeriesUID: r[0], Nodule: n})
			continue
		}
		n.Type, n.Location = NoduleType(r[7]), Location(r[13])
		switch n.Type {
		case TypeSolid, TypePartSolid, TypeNonSolid, TypeCalcified:
		default:
			return nil, bad("type %q", r[7])
		}
		switch n.Location {
		case LocationParenchyma, LocationJuxtapleural, LocationMediastinal:
		default:
			return nil, bad("location %q", r[13])
		}
		if r[12] != "0" && r[12] != "1" {
			return nil, bad("spiculated %q", r[12])
		}
		n.Spiculated = r[12] == "1"
		for c, dst := range []*float64{&n.SolidDiameterMM, &n.LongAxisMM, &n.ShortAxisMM, &n.VolumeMM3} {
			if *dst, err = float(8 + c); err != nil {
				return nil, err
			}
		}
		out = append(out, TruthRow{SeriesUID: r[0], Nodule: n})
	}
	return out, nil
}
