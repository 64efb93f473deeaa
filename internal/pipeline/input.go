// Package pipeline chains the stage packages into the jobs the CLI offers:
// preprocess one scan, detect, classify, and run all of them over a folder of
// scans (Run). It owns orchestration only (which stage runs on what, file
// names, timings, worker budget, crash isolation); every domain computation
// lives in a stage package.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/textsafe"
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

// KindOf classifies path by what it is on disk (symbolic links followed).
// A FIFO, socket or device is never a scan, whatever its name.
func KindOf(path string) (Kind, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st.IsDir() {
		return DICOMDir, nil
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %w (a %s)", textsafe.Escape(path), ErrUnknownInput, safefile.Kind(st.Mode()))
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
	return 0, fmt.Errorf("%s: %w", textsafe.Escape(path), ErrUnknownInput)
}

// MaxIDBytes bounds a scan id's length in bytes, so that the longest output
// name (<id>_lung.nii.gz, <id>_cand10.png) fits a 255-byte file name.
const MaxIDBytes = 200

// ScanID is the identifier used for a scan's output folder and files: a
// DICOM folder's base name (the Kaggle patient id), or a file name without
// its extension (.nii.gz, .nii, .mhd: the LUNA16 seriesuid). It is always a
// safe, plain file name: control and Unicode format characters, invalid
// UTF-8, '/' and '\' become '_'; leading dots become '_' (so an id is never
// empty, ".", ".." or hidden: a file named "...nii.gz" gets "__"); an id
// longer than MaxIDBytes is cut and given a hash of the whole name, so
// distinct long names stay distinct.
func ScanID(path string) string {
	base := filepath.Base(filepath.Clean(path))
	for _, ext := range []string{".nii.gz", ".nii", ".mhd", ".mha", ".zip"} {
		if strings.HasSuffix(strings.ToLower(base), ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	var b strings.Builder
	lead := true
	for i := 0; i < len(base); {
		r, n := utf8.DecodeRuneInString(base[i:])
		bad := (r == utf8.RuneError && n == 1) || r == '/' || r == '\\' || unicode.IsControl(r) ||
			unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
		switch {
		case bad, lead && r == '.':
			b.WriteByte('_')
		default:
			b.WriteString(base[i : i+n])
		}
		lead = lead && r == '.'
		i += n
	}
	id := b.String()
	if id == "" {
		id = "_"
	}
	if len(id) > MaxIDBytes {
		sum := sha256.Sum256([]byte(base))
		cut := MaxIDBytes - 9
		for cut > 0 && !utf8.RuneStart(id[cut]) {
			cut--
		}
		id = id[:cut] + "-" + hex.EncodeToString(sum[:4])
	}
	return id
}

// ListScans expands a batch input into the scans it holds: a folder of
// patient folders (Kaggle stage1/<patient>/), a folder of .mhd files
// (LUNA16 subsetN/), a folder of .nii.gz files, or a single scan (a DICOM
// folder holding files directly, an .mhd or a NIfTI file). Symbolic links
// are followed (a linked input folder, linked patient folders, linked
// files); a link that leads back to the input folder or above it, a dangling
// link, and FIFOs, sockets and devices are skipped with a warning (nothing
// is opened that could block). Entries that are the same file or folder as
// one of exclude (the output folder inside the input) are left out. Results
// are sorted by path so runs are reproducible; warnings are plain text for
// the log.
func ListScans(in string, exclude ...string) (scans, warnings []string, err error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, nil, err
	}
	if !st.IsDir() {
		if _, err := KindOf(in); err != nil {
			return nil, nil, err
		}
		return []string{in}, nil, nil
	}
	l := lister{in: in, inStat: st}
	l.realIn, _ = filepath.EvalSymlinks(in)
	for _, x := range exclude {
		if xs, err := os.Stat(x); err == nil {
			l.exclude = append(l.exclude, xs)
		}
	}
	ents, err := os.ReadDir(in)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		l.add(e)
	}
	// A folder holding DICOM files itself (not only in subfolders) is one
	// patient's scan; other loose files (CSV, notes) are ignored.
	if len(l.files) == 0 && l.dicomFiles > 0 {
		return []string{in}, l.warnings, nil
	}
	out := append(l.files, l.dirs...)
	sort.Strings(out)
	if len(out) == 0 {
		return nil, l.warnings, fmt.Errorf("%s: no scans found (want patient folders, .mhd or .nii.gz files)", textsafe.Escape(in))
	}
	return out, l.warnings, nil
}

// lister accumulates ListScans' view of one folder.
type lister struct {
	in          string
	realIn      string
	inStat      fs.FileInfo
	exclude     []fs.FileInfo
	dirs, files []string
	dicomFiles  int
	warnings    []string
}

func (l *lister) warn(format string, a ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, a...))
}

// add files one folder entry under dirs, files or the loose-DICOM count.
func (l *lister) add(e fs.DirEntry) {
	name := e.Name()
	p := filepath.Join(l.in, name)
	if strings.HasPrefix(name, ".") {
		// Hidden entries (.git, .DS_Store, an editor's swap file) are not
		// scans; a hidden folder or scan file is skipped aloud, so that a
		// patient named .c does not vanish from the run unseen.
		if st, err := os.Stat(p); err == nil && !isTemp(name) {
			if k, kerr := KindOf(p); st.IsDir() || kerr == nil && (k == MetaImage || k == NIfTI || k == DICOMDir) {
				l.warn("skipped %s: hidden (its name starts with a dot); rename it to run it", p)
			}
		}
		return
	}
	st, err := os.Stat(p)
	if err != nil {
		l.warn("skipped %s: %v (a dangling symbolic link?)", p, err)
		return
	}
	for _, x := range l.exclude {
		if os.SameFile(st, x) {
			return
		}
	}
	if st.IsDir() {
		if e.Type()&fs.ModeSymlink != 0 && l.loops(p, st) {
			l.warn("skipped %s: symbolic link to the input folder or one above it (a loop)", p)
			return
		}
		l.dirs = append(l.dirs, p)
		return
	}
	if !st.Mode().IsRegular() {
		l.warn("skipped %s: a %s, not a scan", p, safefile.Kind(st.Mode()))
		return
	}
	if k, err := KindOf(p); err == nil && (k == MetaImage || k == NIfTI || k == DICOMDir) { // DICOMDir: a .zip
		if n := strings.ToLower(name); k == NIfTI && (strings.HasSuffix(n, "_lung.nii.gz") || strings.HasSuffix(n, "_lung.nii")) {
			return // a preprocess mask, not a scan
		}
		l.files = append(l.files, p)
		return
	}
	if looksDICOM(p) {
		l.dicomFiles++
	}
}

// loops reports whether the linked folder p (stat st) is the input folder
// or one of its ancestors.
func (l *lister) loops(p string, st fs.FileInfo) bool {
	if os.SameFile(st, l.inStat) {
		return true
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || l.realIn == "" {
		return false
	}
	rel, err := filepath.Rel(real, l.realIn)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// looksDICOM reports whether path is a regular file that starts like a DICOM
// file: the "DICM" magic after the 128-byte preamble, or (for files without
// a preamble) a .dcm name. It opens without blocking and checks the opened
// file is regular, so a FIFO swapped in after a Stat cannot hang it.
func looksDICOM(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	if strings.HasSuffix(strings.ToLower(path), ".dcm") {
		return true
	}
	var b [132]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return string(b[128:]) == "DICM"
}
