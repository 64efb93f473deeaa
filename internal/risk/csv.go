package risk

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unsafe"

	"github.com/lungctl/lungctl/internal/csvio"
)

// Clinical CSV columns (lungctl --clinical). The header names them, in any
// order and any case; other columns are ignored.
var clinicalColumns = []string{"id", "age", "sex", "family_history", "emphysema"}

// clinicalRowBytes is what ParseClinicalCSV keeps of a row: its Clinical
// and id in one map and the id and line in another, with the maps' overhead.
const clinicalRowBytes = unsafe.Sizeof(Clinical{}) + 96

// ReadClinicalCSV reads a --clinical file: a header naming the columns id,
// age, sex, family_history and emphysema (any order, any case, extra columns
// ignored), then one row per patient. The id is the scan or patient id the
// other lungctl outputs use. Cells:
//
//	age             years ("62", "62.5") or a DICOM age string ("062Y",
//	                "540M"); empty = unknown
//	sex             M, F, O (or male, female, other); empty = unknown
//	family_history  0/1, yes/no, y/n, true/false; empty = unknown
//	emphysema       as family_history
//
// Every error names the file and the line. A missing column, an empty or
// repeated id, or a cell that does not parse is an error.
func ReadClinicalCSV(path string) (map[string]Clinical, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clinical: %w", err)
	}
	defer f.Close()
	return ParseClinicalCSV(f, path)
}

// ParseClinicalCSV is ReadClinicalCSV on a reader; name stands for the file
// in errors.
func ParseClinicalCSV(r io.Reader, name string) (map[string]Clinical, error) {
	lim := csvio.NewLineLimit(r, name) // a line over csvio.MaxLineBytes fails before it is held
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1 // ragged rows are reported below, by line
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("clinical: %s: empty file (want a header: %s)", name, strings.Join(clinicalColumns, ","))
	}
	if err != nil {
		if lim.Err() != nil {
			return nil, fmt.Errorf("clinical: %w", lim.Err())
		}
		return nil, fmt.Errorf("clinical: %s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		k := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[k]; dup && k != "" {
			return nil, fmt.Errorf("clinical: %s: line 1: column %q appears twice", name, k)
		}
		col[k] = i
	}
	for _, k := range clinicalColumns {
		if _, ok := col[k]; !ok {
			return nil, fmt.Errorf("clinical: %s: line 1: missing column %q (header %q; want %s, any order)",
				name, k, strings.Join(head, ","), strings.Join(clinicalColumns, ","))
		}
	}
	out := map[string]Clinical{}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil { // a *csv.ParseError, whose message names the line
			if lim.Err() != nil {
				return nil, fmt.Errorf("clinical: %w", lim.Err())
			}
			return nil, fmt.Errorf("clinical: %s: %w", name, err)
		}
		// FieldPos is only valid after a successful Read (it panics on a
		// field index the last record does not have; a record has ≥ 1).
		line, _ := cr.FieldPos(0)
		if len(rec) != len(head) {
			return nil, fmt.Errorf("clinical: %s: line %d: %d fields, header has %d", name, line, len(rec), len(head))
		}
		cell := func(k string) string { return rec[col[k]] }
		id := strings.TrimSpace(cell("id"))
		if id == "" {
			return nil, fmt.Errorf("clinical: %s: line %d: empty id", name, line)
		}
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("clinical: %s: line %d: id %q already on line %d", name, line, id, prev)
		}
		if err := lim.CheckHeld(line, len(out)+1, clinicalRowBytes); err != nil {
			return nil, fmt.Errorf("clinical: %w", err)
		}
		seen[id] = line
		var c Clinical
		if c.AgeYears, c.AgeKnown, err = parseAgeCell(cell("age")); err != nil {
			return nil, fmt.Errorf("clinical: %s: line %d: age: %w", name, line, err)
		}
		if c.Sex, err = ParsePatientSex(cell("sex")); err != nil {
			return nil, fmt.Errorf("clinical: %s: line %d: sex: %w", name, line, err)
		}
		if c.FamilyHistory, err = ParseTri(cell("family_history")); err != nil {
			return nil, fmt.Errorf("clinical: %s: line %d: family_history: %w", name, line, err)
		}
		if c.Emphysema, err = ParseTri(cell("emphysema")); err != nil {
			return nil, fmt.Errorf("clinical: %s: line %d: emphysema: %w", name, line, err)
		}
		out[id] = c
	}
}
