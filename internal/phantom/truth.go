package phantom

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/lungctl/lungctl/internal/csvio"
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
	recs := make([][]string, len(rows))
	for i, r := range rows {
		n := r.Nodule
		sp := "0"
		if n.Spiculated {
			sp = "1"
		}
		recs[i] = []string{
			r.SeriesUID, fnum(n.World[0]), fnum(n.World[1]), fnum(n.World[2]), fnum(n.DiameterMM),
			strconv.Itoa(n.Malignancy), string(n.Kind), string(n.Type), fnum(n.SolidDiameterMM),
			fnum(n.LongAxisMM), fnum(n.ShortAxisMM), fnum(n.VolumeMM3), sp, string(n.Location),
		}
	}
	if err := csvio.WriteFile(path, TruthHeader, truthNumeric, recs); err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	return nil
}

// truthNumeric are TruthHeader's numeric columns (csvio writes them as
// numbers, every other cell as spreadsheet-safe text).
var truthNumeric = []string{"coordX", "coordY", "coordZ", "diameter_mm", "malignancy", "solid_diameter_mm",
	"long_axis_mm", "short_axis_mm", "volume_mm3", "spiculated"}

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
	cr, err := csvio.NewReader(f, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTruthFormat, err)
	}
	head := strings.Join(cr.Header(), ",")
	v1 := head == strings.Join(truthHeaderV1, ",")
	if !v1 && head != strings.Join(TruthHeader, ",") {
		return nil, fmt.Errorf("phantom: %s: %w: header is not %s", path, ErrTruthFormat, strings.Join(TruthHeader, ","))
	}
	cr.Hold(unsafe.Sizeof(TruthRow{}))
	var out []TruthRow
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTruthFormat, err)
		}
		n, err := truthNodule(row, v1)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTruthFormat, err)
		}
		out = append(out, TruthRow{SeriesUID: row.Get("seriesuid"), Nodule: n})
	}
}

// truthNodule parses one truth row; v1 rows (the first seven columns only)
// get the measurements that follow from their kind.
func truthNodule(row csvio.Row, v1 bool) (Nodule, error) {
	var v [4]float64
	for c, col := range []string{"coordX", "coordY", "coordZ", "diameter_mm"} {
		x, err := row.Finite(col)
		if err != nil {
			return Nodule{}, err
		}
		v[c] = x
	}
	k := Kind(row.Get("kind"))
	m, err := strconv.Atoi(row.Get("malignancy"))
	if err != nil || m < 1 || m > 5 || !k.Valid() {
		return Nodule{}, row.Errorf("malignancy %q kind %q", row.Get("malignancy"), k)
	}
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
		return n, nil
	}
	n.Type, n.Location = NoduleType(row.Get("type")), Location(row.Get("location"))
	switch n.Type {
	case TypeSolid, TypePartSolid, TypeNonSolid, TypeCalcified:
	default:
		return n, row.Errorf("type %q", n.Type)
	}
	switch n.Location {
	case LocationParenchyma, LocationJuxtapleural, LocationMediastinal:
	default:
		return n, row.Errorf("location %q", n.Location)
	}
	switch row.Get("spiculated") {
	case "0":
	case "1":
		n.Spiculated = true
	default:
		return n, row.Errorf("spiculated %q", row.Get("spiculated"))
	}
	for _, c := range []struct {
		col string
		dst *float64
	}{{"solid_diameter_mm", &n.SolidDiameterMM}, {"long_axis_mm", &n.LongAxisMM}, {"short_axis_mm", &n.ShortAxisMM}, {"volume_mm3", &n.VolumeMM3}} {
		x, err := row.Finite(c.col)
		if err != nil {
			return n, err
		}
		*c.dst = x
	}
	return n, nil
}
