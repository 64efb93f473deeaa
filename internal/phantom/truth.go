package phantom

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/volume"
)

// TruthHeader is the header row of the truth CSV: LUNA16's annotations
// columns (LPS world mm) followed by the malignancy rating and the kind.
var TruthHeader = []string{"seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "malignancy", "kind"}

// ErrTruthFormat reports a truth CSV that does not have TruthHeader's
// columns or has an unparsable row.
var ErrTruthFormat = errors.New("phantom: bad truth CSV")

// TruthRow is one parsed row of a truth CSV.
type TruthRow struct {
	// SeriesUID is the row's seriesuid column.
	SeriesUID string
	// Nodule holds the centre (LPS mm), diameter (mm), kind and rating.
	Nodule
}

// WriteTruth writes the nodules of one series as a truth CSV (TruthHeader;
// coordinates LPS mm with 3 decimals, diameter mm with 2) atomically.
func WriteTruth(path string, seriesUID string, ns []Nodule) error {
	rows := make([]TruthRow, len(ns))
	for i, n := range ns {
		rows[i] = TruthRow{SeriesUID: seriesUID, Nodule: n}
	}
	return WriteTruthRows(path, rows)
}

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
			rec := []string{
				r.SeriesUID,
				strconv.FormatFloat(n.World[0], 'f', 3, 64),
				strconv.FormatFloat(n.World[1], 'f', 3, 64),
				strconv.FormatFloat(n.World[2], 'f', 3, 64),
				strconv.FormatFloat(n.DiameterMM, 'f', 2, 64),
				strconv.Itoa(n.Malignancy),
				string(n.Kind),
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

// ReadTruth parses a truth CSV written by WriteTruth (Malignant is derived
// from the rating: ≥ 4).
func ReadTruth(path string) ([]TruthRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("phantom: %s: %w: %v", path, ErrTruthFormat, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(TruthHeader, ",") {
		return nil, fmt.Errorf("phantom: %s: %w: header is not %s", path, ErrTruthFormat, strings.Join(TruthHeader, ","))
	}
	var out []TruthRow
	for i, r := range recs[1:] {
		var v [4]float64
		for c := 0; c < 4; c++ {
			v[c], err = strconv.ParseFloat(r[c+1], 64)
			if err != nil {
				return nil, fmt.Errorf("phantom: %s: row %d: %w: %v", path, i+2, ErrTruthFormat, err)
			}
		}
		m, err := strconv.Atoi(r[5])
		if err != nil || m < 1 || m > 5 || !Kind(r[6]).Valid() {
			return nil, fmt.Errorf("phantom: %s: row %d: %w: malignancy %q kind %q", path, i+2, ErrTruthFormat, r[5], r[6])
		}
		out = append(out, TruthRow{SeriesUID: r[0], Nodule: Nodule{
			World: volume.Vec3{v[0], v[1], v[2]}, DiameterMM: v[3], Kind: Kind(r[6]),
			Malignancy: m, Malignant: m >= 4,
		}})
	}
	return out, nil
}
