package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"unsafe"

	"github.com/lungctl/lungctl/internal/csvio"
)

// IsRunFolder reports whether dir is the output folder of a run: it holds
// summary.json, or a subfolder with a done.json.
func IsRunFolder(dir string) bool {
	if st, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil && st.Mode().IsRegular() {
		return true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), DoneFile)); err == nil {
				return true
			}
		}
	}
	return false
}

// RunReports is the outcome of ReportRun.
type RunReports struct {
	// Written are the reports written (paths); Failed the scans whose
	// report could not be made, with the reason.
	Written []string
	Failed  []Failure
	// Index is the index.html written.
	Index string
}

// ReportRun writes a report for every complete scan of the run folder in
// (one whose done.json and candidates.csv are there) into
// out/<id>/<id>_report.html, and out/index.html over them and the run's
// failed scans (failures.csv). Each scan's pictures need its volumes: the
// <id>.nii.gz and lung mask a --volumes run kept (with the original scan,
// when its sidecar names one that still exists, for the source-resolution
// pictures), else the scan's input as done.json names it, preprocessed
// again with opt. A scan with neither fails alone (in Failed). The error is
// for a folder that cannot be read or an index that cannot be written.
func ReportRun(ctx context.Context, in, out string, opt PreprocessOptions, log *slog.Logger) (RunReports, error) {
	var rr RunReports
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ents, err := os.ReadDir(in)
	if err != nil {
		return rr, fmt.Errorf("report: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !isTemp(e.Name()) {
			if _, err := os.Stat(filepath.Join(in, e.Name(), DoneFile)); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	var recs []ScanRecord
	for _, id := range names {
		if err := ctx.Err(); err != nil {
			return rr, err
		}
		rec, path, err := reportOne(filepath.Join(in, id), id, out, opt)
		if err != nil {
			rr.Failed = append(rr.Failed, Failure{ID: id, Input: rec.Input, Error: err.Error()})
			log.Warn("no report", "scan", id, "error", err)
			continue
		}
		rec.Files = append(rec.Files, ReportName(id))
		recs = append(recs, rec)
		rr.Written = append(rr.Written, path)
		log.Info("report", "scan", id, "path", path)
	}
	failed, err := readFailures(filepath.Join(in, "failures.csv"))
	if err != nil {
		return rr, err
	}
	rr.Index = filepath.Join(out, IndexFile)
	return rr, WriteIndex(rr.Index, recs, append(failed, rr.Failed...))
}

// reportOne writes the report of the run's scan folder dir into out/<id>/.
func reportOne(dir, id, out string, opt PreprocessOptions) (ScanRecord, string, error) {
	rec, cs, err := readComplete(dir, id)
	if err != nil {
		return rec, "", err
	}
	p, err := runVolumes(dir, rec, opt)
	if err != nil {
		return rec, "", err
	}
	sub, err := scanDir(out, id)
	if err != nil {
		return rec, "", err
	}
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return rec, "", fmt.Errorf("report: %w", err)
	}
	path := filepath.Join(sub, ReportName(id))
	in := ReportInput{Rec: rec, Cands: cs, HU: p.HU, Lung: p.Lung, Source: p.Source}
	return rec, path, WriteReport(path, in)
}

// runVolumes finds a run scan's volumes: the kept <id>.nii.gz (and its
// source), else its input preprocessed again.
func runVolumes(dir string, rec ScanRecord, opt PreprocessOptions) (*Preprocessed, error) {
	opt.KeepSource = true
	for _, ext := range []string{".nii.gz", ".nii"} {
		hu := filepath.Join(dir, rec.ID+ext)
		if _, err := os.Stat(hu); err != nil {
			continue
		}
		p, err := LoadVolumes(hu, "", opt, nil)
		if err != nil {
			return nil, err
		}
		if _, err := AttachSource(p, hu); err != nil {
			return nil, err
		}
		return p, nil
	}
	if _, err := os.Stat(rec.Input); err != nil {
		return nil, fmt.Errorf("report: %s: neither the scan's volumes (run --volumes) nor its input are there: %w", dir, err)
	}
	if k, err := KindOf(rec.Input); err == nil && k == DICOMDir {
		opt.SeriesUID = rec.SeriesUID
	}
	return Preprocess(rec.Input, opt, nil)
}

// readFailures reads a run's failures.csv (none when it is absent).
func readFailures(path string) ([]Failure, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	r, err := csvio.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	r.Hold(unsafe.Sizeof(Failure{}))
	var out []Failure
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Failure{ID: row.Get("id"), Input: row.Get("input"), Error: row.Get("error")})
	}
}
