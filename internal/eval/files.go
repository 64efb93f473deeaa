package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unsafe"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/csvio"
)

// ReadAnnotations reads an annotations CSV (annotations.csv,
// annotations_excluded.csv or annotations_with_malignancy.csv): columns
// seriesuid, coordX, coordY, coordZ (LPS mm) and diameter_mm, found by name;
// other columns are ignored.
func ReadAnnotations(path string) ([]Annotation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	return ReadAnnotationsFrom(f, path)
}

// ReadAnnotationsFrom is ReadAnnotations on a reader; name is used in errors.
// A negative diameter_mm is kept (the official annotations_excluded.csv
// writes −1 for an unknown diameter, which Evaluate reads as 10 mm); a
// column named twice in the header is an error.
func ReadAnnotationsFrom(r io.Reader, name string) ([]Annotation, error) {
	cr, err := csvio.NewReader(r, name)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if err := cr.Require("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	cr.Hold(unsafe.Sizeof(Annotation{}))
	var out []Annotation
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		a, err := annotationOf(row)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
}

// annotationOf reads the LUNA16 annotation columns of one row: seriesuid,
// coordX, coordY, coordZ (LPS mm) and diameter_mm, each number finite.
func annotationOf(row csvio.Row) (Annotation, error) {
	w, err := row.World()
	if err != nil {
		return Annotation{}, fmt.Errorf("eval: %w", err)
	}
	d, err := row.Finite("diameter_mm")
	if err != nil {
		return Annotation{}, fmt.Errorf("eval: %w", err)
	}
	if d > MaxDiameterMM {
		return Annotation{}, fmt.Errorf("eval: %w", row.Errorf("column diameter_mm: %s mm is wider than any chest (at most %g mm): "+
			"its hit sphere would take every mark of the scan", row.Get("diameter_mm"), float64(MaxDiameterMM)))
	}
	return Annotation{SeriesUID: row.Get("seriesuid"), World: w, DiameterMM: d}, nil
}

// MaxDiameterMM is the largest annotation diameter (mm) the readers accept:
// wider than a chest (about 300–400 mm across). A mark counts as a hit within
// half the diameter of the annotation's centre (LUNA16's rule), so a
// diameter like 1e308 would make every mark of its scan a hit.
const MaxDiameterMM = 500

// seriesUIDBytes is what ReadSeriesUIDs keeps of an id: its string in the
// list and in the set of those seen, with the set's overhead.
const seriesUIDBytes = 64

// ReadSeriesUIDs reads a scan list such as LUNA16's seriesuids.csv: the
// first field of each non-empty line (a "seriesuid" header line is
// skipped); repeated ids are kept once.
func ReadSeriesUIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	lim := csvio.NewLineLimit(f, path)
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	seen := map[string]bool{}
	var out []string
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lim.Err() != nil {
				return nil, fmt.Errorf("eval: %w", lim.Err())
			}
			return nil, fmt.Errorf("eval: %s: line %d: %w", path, line, err)
		}
		id := csvio.Unescape(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")))
		if id == "" || (line == 1 && strings.EqualFold(id, "seriesuid")) || seen[id] {
			continue
		}
		if err := lim.CheckHeld(line, len(out)+1, seriesUIDBytes); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		seen[id] = true
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("eval: %s: %w", path, ErrNoScans)
	}
	return out, nil
}

// ReadCandidates reads a candidates (or LUNA16 submission) CSV for
// evaluation with candidate.ReadFile, which refuses an empty or
// non-finite probability (when the file has that column) naming the
// file, line and column.
func ReadCandidates(path string) ([]candidate.Candidate, error) {
	cands, err := candidate.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return cands, nil
}

// outOfUnit counts the candidates whose probability is outside [0, 1] and
// returns the range of all probabilities when there are any.
func outOfUnit(cands []candidate.Candidate) (n int, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, c := range cands {
		p := c.Probability
		if p < 0 || p > 1 {
			n++
		}
		lo, hi = min(lo, p), max(hi, p)
	}
	return n, lo, hi
}

// Files names the inputs of EvaluateFiles.
type Files struct {
	// Annotations is annotations.csv (required).
	Annotations string
	// Excluded is annotations_excluded.csv ("" for none).
	Excluded string
	// SeriesUIDs is the scan list ("" to evaluate the scans named in the
	// candidates file).
	SeriesUIDs string
	// Candidates is the candidates or submission CSV (required).
	Candidates string
}

// EvaluateFiles reads the files named in f and runs Evaluate over the scans
// of the SeriesUIDs list, or else those named in the candidates file, so
// that evaluating a subset against the full LUNA16 annotations does not
// count the other scans' nodules as missed. (A candidates file with no rows
// and no list falls back to Evaluate's union of series.)
//
// The annotations may be a phantom truth table (ReadTruth). Then, and
// whenever Options.MinDiameterMM is set, the size rule applies (see
// Options.MinDiameterMM; the rule is recorded in Result.AnnotationRule);
// Options.ByKind and BySize add Result.ByKind and BySize; and when the
// truth has the measurement columns and at least one candidate has
// measurements (a non-empty type), Result.Measurement compares them.
func EvaluateFiles(f Files, opt Options) (*Result, error) {
	tt, err := ReadTruth(f.Annotations)
	if err != nil {
		return nil, err
	}
	if opt.ByKind && !tt.HasKind {
		return nil, fmt.Errorf("%w: %s", ErrNoKind, f.Annotations)
	}
	var exc []Annotation
	if f.Excluded != "" {
		if exc, err = ReadAnnotations(f.Excluded); err != nil {
			return nil, err
		}
	}
	cands, err := ReadCandidates(f.Candidates)
	if err != nil {
		return nil, err
	}
	var scans []string
	if f.SeriesUIDs != "" {
		if scans, err = ReadSeriesUIDs(f.SeriesUIDs); err != nil {
			return nil, err
		}
	} else {
		seen := map[string]bool{}
		for _, c := range cands {
			if !seen[c.SeriesUID] {
				seen[c.SeriesUID] = true
				scans = append(scans, c.SeriesUID)
			}
		}
	}
	rows, minD, rule := tt.Rows, 0.0, tt.HasKind || opt.MinDiameterMM != nil
	var small []Annotation
	if rule {
		minD = DefaultMinDiameterMM
		if opt.MinDiameterMM != nil {
			minD = max(0, *opt.MinDiameterMM)
		}
		rows, small = splitBySize(tt.Rows, minD)
		exc = append(exc, small...)
	}
	ann := make([]Annotation, len(rows))
	for i, r := range rows {
		ann[i] = r.Annotation
	}
	res, err := Evaluate(ann, exc, scans, cands, opt)
	if err != nil {
		return res, err
	}
	if rule {
		res.MinDiameterMM, res.ExcludedBelowMin = minD, len(small)
		res.AnnotationRule = fmt.Sprintf("annotations: nodules with diameter_mm ≥ %g mm; %d smaller ones are excluded findings (marks on them are neither hits nor false positives)", minD, len(small))
		if minD == DefaultMinDiameterMM {
			res.AnnotationRule += " — LUNA16's rule"
		}
		if minD <= 0 {
			res.AnnotationRule = "annotations: every nodule of the table, whatever its size"
		}
	}
	if opt.ByKind {
		res.ByKind = res.byKind(rows)
	}
	if opt.BySize {
		res.BySize = res.bySize()
	}
	if n, lo, hi := outOfUnit(cands); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: %d probabilities outside [0, 1] (%g to %g), ranked as scores, as the official LUNA16 script ranks them", f.Candidates, n, lo, hi))
	}
	if tt.HasMeasures {
		for _, c := range cands {
			if c.Type != "" {
				res.Measurement = res.measure(rows, cands)
				break
			}
		}
		if res.Measurement == nil {
			res.Notes = append(res.Notes, fmt.Sprintf("measurement agreement: skipped, no candidate of %s has measurements (its type column is empty or absent)", f.Candidates))
		}
	}
	return res, nil
}
