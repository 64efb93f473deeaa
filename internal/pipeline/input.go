// Package pipeline chains the stage packages into the jobs the CLI offers:
// preprocess one scan, detect, classify, and run all of them over a folder of
// scans. It owns orchestration only (which stage runs on what, file names,
// timings); every domain computation lives in a stage package.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind says what an input path holds.
type Kind int

const (
	// DICOMDir is a folder holding one patient's DICOM files (any depth).
	DICOMDir Kind = iota
	// MetaImage is an ITK .mhd header with its .raw/.zraw data (LUNA16).
	MetaImage
	// NIfTI is a .nii or .nii.gz volume in HU (a preprocess output or any
	// CT converted by another tool).
	NIfTI
)

func (k Kind) String() string {
	switch k {
	case DICOMDir:
		return "DICOM folder"
	case MetaImage:
		return "MetaImage"
	case NIfTI:
		return "NIfTI"
	}
	return "unknown"
}

// ErrUnknownInput reports a path that is neither a folder, a .zip, an
// .mhd/.mha nor a NIfTI file.
var ErrUnknownInput = errors.New("not a DICOM folder or .zip, .mhd/.mha or .nii/.nii.gz file")

// KindOf classifies path by what it is on disk.
func KindOf(path string) (Kind, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st.IsDir() {
		return DICOMDir, nil
	}
	l := strings.ToLower(path)
	switch {
	case strings.HasSuffix(l, ".mhd"), strings.HasSuffix(l, ".mha"):
		return MetaImage, nil
	case strings.HasSuffix(l, ".nii"), strings.HasSuffix(l, ".nii.gz"):
		return NIfTI, nil
	case strings.HasSuffix(l, ".zip"):
		return DICOMDir, nil // a .zip of DICOM files reads like their folder
	}
	return 0, fmt.Errorf("%s: %w", path, ErrUnknownInput)
}

// ScanID is the identifier used for a scan's output files: a DICOM folder's
// base name (the Kaggle patient id), or a file name without its extension
// (the LUNA16 seriesuid for an .mhd).
func ScanID(path string) string {
	base := filepath.Base(filepath.Clean(path))
	for _, ext := range []string{".nii.gz", ".nii", ".mhd", ".mha", ".zip"} {
		if strings.HasSuffix(strings.ToLower(base), ext) {
			return base[:len(base)-len(ext)]
		}
	}
	return base
}

// ListScans expands a batch input into the scans it holds: a folder of
// patient folders (Kaggle stage1/<patient>/), a folder of .mhd files
// (LUNA16 subsetN/), a folder of .nii.gz files, or a single scan (a DICOM
// folder holding files directly, an .mhd or a NIfTI file). Results are sorted
// by path so runs are reproducible.
func ListScans(in string) ([]string, error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if _, err := KindOf(in); err != nil {
			return nil, err
		}
		return []string{in}, nil
	}
	ents, err := os.ReadDir(in)
	if err != nil {
		return nil, err
	}
	var dirs, files []string
	dicomFiles := 0
	for _, e := range ents {
		p := filepath.Join(in, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			dirs = append(dirs, p)
			continue
		}
		if k, err := KindOf(p); err == nil && (k == MetaImage || k == NIfTI || k == DICOMDir) {
			if n := strings.ToLower(e.Name()); k == NIfTI && (strings.HasSuffix(n, "_lung.nii.gz") || strings.HasSuffix(n, "_lung.nii")) {
				continue // a preprocess mask, not a scan
			}
			files = append(files, p)
			continue
		}
		if looksDICOM(p) {
			dicomFiles++
		}
	}
	// A folder holding DICOM files itself (not only in subfolders) is one
	// patient's scan; other loose files (CSV, notes) are ignored.
	if len(files) == 0 && dicomFiles > 0 {
		return []string{in}, nil
	}
	out := append(files, dirs...)
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no scans found (want patient folders, .mhd or .nii.gz files)", in)
	}
	return out, nil
}

// looksDICOM reports whether path starts like a DICOM file: the "DICM" magic
// after the 128-byte preamble, or (for files without a preamble) a .dcm
// name.
func looksDICOM(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), ".dcm") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [132]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return string(b[128:]) == "DICM"
}
