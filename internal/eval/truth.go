package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unsafe"

	"github.com/lungctl/lungctl/internal/csvio"
)

// DefaultMinDiameterMM is LUNA16's size rule: the nodules it annotates are
// those of 3 mm or more; smaller ones are excluded findings (marks on them
// are neither hits nor false positives).
const DefaultMinDiameterMM = 3.0

// TruthColumns are the optional columns of a phantom truth CSV (see
// internal/phantom's TruthHeader) that ReadTruth understands beyond the
// LUNA16 annotation columns. All but kind and malignancy must be present
// for TruthTable.HasMeasures.
var TruthColumns = []string{"kind", "malignancy", "type", "solid_diameter_mm", "long_axis_mm", "short_axis_mm",
	"volume_mm3", "spiculated"}

// TruthRow is one row of an annotations table together with the phantom
// truth columns, when the table has them.
type TruthRow struct {
	Annotation
	// Kind is the lesion kind (phantom truth's kind column, e.g. "round"),
	// "" when the table has no kind column.
	Kind string
	// Malignancy is the 1–5 rating, 0 when absent.
	Malignancy int
	// Type is the attenuation class: solid, part-solid, non-solid or
	// calcified ("" when absent).
	Type string
	// SolidDiameterMM, LongAxisMM and ShortAxisMM are in mm, VolumeMM3 in
	// mm³; NaN when absent.
	SolidDiameterMM, LongAxisMM, ShortAxisMM, VolumeMM3 float64
	// Spiculated is 1 or 0, −1 when absent.
	Spiculated int
	// Location is where the lesion lies (the phantom truth's location
	// column: parenchyma, juxtapleural, mediastinal), "" when absent; it
	// is optional even in a phantom truth.
	Location string
}

// TruthTable is an annotations table read by ReadTruth.
type TruthTable struct {
	// File is the path read.
	File string
	// Rows are the table's rows in file order.
	Rows []TruthRow
	// HasKind is true when the table has a kind column (a phantom truth).
	HasKind bool
	// HasMeasures is true when it has every measurement column (type,
	// solid_diameter_mm, long_axis_mm, short_axis_mm, volume_mm3,
	// spiculated).
	HasMeasures bool
}

// ReadTruth reads an annotations table: LUNA16's columns seriesuid,
// coordX, coordY, coordZ (LPS mm) and diameter_mm (mm), required, and,
// when the table has a kind column (a phantom truth), the other optional
// columns of TruthColumns, all found by name. A table without a kind column
// is read as ReadAnnotations reads it (its other columns are ignored),
// except that a negative diameter_mm, which ReadAnnotations keeps for the
// excluded findings, is an error here: these are the nodules to find. An
// empty optional cell reads as absent; a cell that does not parse and a
// column named twice in the header are errors naming the file (and the line
// and column).
func ReadTruth(path string) (*TruthTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	return ReadTruthFrom(f, path)
}

// ReadTruthFrom is ReadTruth on a reader; name is used in errors.
func ReadTruthFrom(r io.Reader, name string) (*TruthTable, error) {
	cr, err := csvio.NewReader(r, name)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if err := cr.Require("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	cr.Hold(unsafe.Sizeof(TruthRow{}))
	t := &TruthTable{File: name, HasKind: cr.Has("kind")}
	t.HasMeasures = t.HasKind
	for _, c := range TruthColumns[2:] {
		t.HasMeasures = t.HasMeasures && cr.Has(c)
	}
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		a, err := annotationOf(row)
		if err != nil {
			return nil, err
		}
		if a.DiameterMM < 0 {
			return nil, fmt.Errorf("eval: %w", row.Errorf("column diameter_mm: %s is negative; a nodule's diameter is 0 mm or more (an unknown diameter, -1, belongs in the excluded findings)", row.Get("diameter_mm")))
		}
		tr := TruthRow{Annotation: a, Spiculated: -1, SolidDiameterMM: math.NaN(), LongAxisMM: math.NaN(),
			ShortAxisMM: math.NaN(), VolumeMM3: math.NaN()}
		if !t.HasKind {
			t.Rows = append(t.Rows, tr)
			continue
		}
		tr.Kind, tr.Type, tr.Location = row.Get("kind"), row.Get("type"), row.Get("location")
		if m := row.Get("malignancy"); m != "" {
			x, err := strconv.Atoi(m)
			if err != nil || x < 0 || x > 5 {
				return nil, fmt.Errorf("eval: %w", row.Errorf("column malignancy: %q is not a rating 0–5", m))
			}
			tr.Malignancy = x
		}
		switch s := row.Get("spiculated"); s {
		case "":
		case "0", "1":
			tr.Spiculated = int(s[0] - '0')
		default:
			return nil, fmt.Errorf("eval: %w", row.Errorf("column spiculated: %q is not 0 or 1", s))
		}
		for _, c := range []struct {
			k   string
			dst *float64
		}{{"solid_diameter_mm", &tr.SolidDiameterMM}, {"long_axis_mm", &tr.LongAxisMM},
			{"short_axis_mm", &tr.ShortAxisMM}, {"volume_mm3", &tr.VolumeMM3}} {
			if *c.dst, err = row.Float(c.k, math.NaN()); err != nil {
				return nil, fmt.Errorf("eval: %w", err)
			}
		}
		t.Rows = append(t.Rows, tr)
	}
}

// splitBySize returns the rows with DiameterMM ≥ minMM (the annotations,
// with their row indices) and the smaller ones as excluded findings.
func splitBySize(rows []TruthRow, minMM float64) (inc []TruthRow, exc []Annotation) {
	for _, r := range rows {
		if r.DiameterMM >= minMM {
			inc = append(inc, r)
		} else {
			exc = append(exc, r.Annotation)
		}
	}
	return inc, exc
}

// Float is a float64 that JSON writes as null when it is NaN or infinite
// (an undefined statistic) and reads back from null as NaN.
type Float float64

// MarshalJSON writes the number, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(x)
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*f = Float(x)
	return nil
}

// nan is a Float NaN.
var nan = Float(math.NaN())
