package dicomio

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/warn"
)

// inputFile is one file to parse: a path on disk, or an entry of a .zip
// held in memory (data non-nil; path is then "archive.zip!/entry").
type inputFile struct {
	path string
	data []byte
}

// MaxFolderDepth bounds how deep listFiles descends (symbolic links
// included); deeper folders are skipped with a warning.
const MaxFolderDepth = 64

// listFiles returns every regular file under root (recursively), sorted,
// following symbolic links to files and folders. A link that is broken, or
// that leads back to a folder already walked (a loop), and anything that is
// not a regular file (FIFO, device, socket) is skipped with a warning;
// nothing is opened here. root itself may be a regular file.
func listFiles(root string) ([]string, []warn.Warning, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, nil, fmt.Errorf("dicomio: %w", err)
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("dicomio: %s: %w (%s)", root, safefile.ErrNotRegular, safefile.Kind(st.Mode()))
		}
		return []string{root}, nil, nil
	}
	var out []string
	var warns []warn.Warning
	visited := map[string]bool{}
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			if depth == 0 {
				return fmt.Errorf("dicomio: %w", err)
			}
			warns = append(warns, warn.New(warn.SkippedLink, dir, "skipped "+dir+": "+err.Error()))
			return nil
		}
		if real, err = filepath.Abs(real); err == nil && visited[real] {
			warns = append(warns, warn.New(warn.SkippedLink, dir, fmt.Sprintf("skipped %s: it leads back to %s, already read (a link loop or a second link to one folder)", dir, real)))
			return nil
		}
		visited[real] = true
		if depth > MaxFolderDepth {
			warns = append(warns, warn.New(warn.SkippedLink, dir, fmt.Sprintf("skipped %s: more than %d folders deep", dir, MaxFolderDepth)))
			return nil
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			if depth == 0 {
				return fmt.Errorf("dicomio: %w", err)
			}
			warns = append(warns, warn.New(warn.SkippedLink, dir, "skipped folder "+dir+": "+err.Error()))
			return nil
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			mode := e.Type()
			if mode&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil {
					warns = append(warns, warn.New(warn.SkippedLink, p, "skipped broken link "+p+": "+err.Error()))
					continue
				}
				mode = st.Mode().Type()
			}
			switch {
			case mode.IsDir():
				if err := walk(p, depth+1); err != nil {
					return err
				}
			case mode.IsRegular():
				out = append(out, p)
			default:
				warns = append(warns, warn.New(warn.SkippedNotRegular, p, fmt.Sprintf("skipped %s: a %s, not a file", p, safefile.Kind(mode))))
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, nil, err
	}
	sort.Strings(out)
	return out, warns, nil
}

// isZip reports whether path names a .zip archive (by name or magic).
func isZip(p string) bool {
	if strings.HasSuffix(strings.ToLower(p), ".zip") {
		return true
	}
	f, err := safefile.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [4]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && string(m[:]) == "PK\x03\x04"
}

// inputs lists what Load and ScanDir parse at path: the files of a folder,
// the entries of a .zip, or one file. release frees the budget a .zip's
// entries hold; call it when the headers are no longer used.
func inputs(p string) (in []inputFile, warns []warn.Warning, release func(), err error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, nil, func() {}, fmt.Errorf("dicomio: %w", err)
	}
	if st.Mode().IsRegular() && isZip(p) {
		return readZip(p)
	}
	files, warns, err := listFiles(p)
	if err != nil {
		return nil, nil, func() {}, err
	}
	in = make([]inputFile, len(files))
	for i, f := range files {
		in[i] = inputFile{path: f}
	}
	return in, warns, func() {}, nil
}

// Limits on a .zip input. Entries are inflated into memory (the total is
// reserved against the memory budget first); nothing is written to disk.
const (
	// MaxZipEntries is the most entries a .zip may list.
	MaxZipEntries = 100_000
)

// ErrUnsafeZip reports a .zip that lungctl will not read: too many entries,
// an entry name that climbs out of the archive ("../x", "/etc/x"), or
// entries that inflate past their declared size.
var ErrUnsafeZip = errors.New("unsafe zip archive")

// readZip inflates the regular-file entries of a .zip into memory. Folders
// are skipped silently; nested archives, links and other special entries
// are skipped with a warning; a name that climbs out of the archive, or too
// many entries, refuses the whole archive (ErrUnsafeZip). The declared
// total inflated size is reserved against the memory budget before
// anything is inflated, and an entry that inflates past its declared size
// is refused.
func readZip(p string) ([]inputFile, []warn.Warning, func(), error) {
	none := func() {}
	f, err := safefile.Open(p)
	if err != nil {
		return nil, nil, none, fmt.Errorf("dicomio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, none, fmt.Errorf("dicomio: %s: %w", p, err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, nil, none, fmt.Errorf("dicomio: %s: %w: %w", p, ErrUnsafeZip, err)
	}
	if len(zr.File) > MaxZipEntries {
		return nil, nil, none, fmt.Errorf("dicomio: %s: %w: %d entries, more than %d", p, ErrUnsafeZip, len(zr.File), MaxZipEntries)
	}
	var warns []warn.Warning
	var keep []*zip.File
	var total uint64
	for _, zf := range zr.File {
		name := zf.Name
		if unsafeZipName(name) {
			return nil, nil, none, fmt.Errorf("dicomio: %s: %w: entry %q leads outside the archive", p, ErrUnsafeZip, name)
		}
		where := p + "!/" + name
		switch m := zf.Mode(); {
		case m.IsDir() || strings.HasSuffix(name, "/"):
			continue
		case !m.IsRegular():
			warns = append(warns, warn.New(warn.ZipEntrySkipped, where, fmt.Sprintf("skipped %s: a %s entry, not a file", where, safefile.Kind(m))))
			continue
		case strings.HasSuffix(strings.ToLower(name), ".zip"):
			warns = append(warns, warn.New(warn.ZipEntrySkipped, where, fmt.Sprintf("skipped %s: archives inside archives are not read (extract it first)", where)))
			continue
		}
		if total+zf.UncompressedSize64 < total {
			total = ^uint64(0)
		} else {
			total += zf.UncompressedSize64
		}
		keep = append(keep, zf)
	}
	release, err := membudget.Reserve(fmt.Sprintf("dicomio: %s: %d entries inflated", p, len(keep)), total)
	if err != nil {
		return nil, nil, none, err
	}
	out := make([]inputFile, len(keep))
	errs := make([]error, len(keep))
	var failed atomic.Bool
	par.For(len(keep), func(_, i int) {
		if failed.Load() {
			return
		}
		zf := keep[i]
		where := p + "!/" + zf.Name
		data, err := inflateEntry(zf)
		if err != nil {
			errs[i] = fmt.Errorf("dicomio: %s: %w", where, err)
			failed.Store(true)
			return
		}
		out[i] = inputFile{path: where, data: data}
	})
	for _, err := range errs {
		if err != nil {
			release()
			return nil, nil, none, err
		}
	}
	// Nested archives recognised by content, not name.
	kept := out[:0]
	for _, in := range out {
		if bytes.HasPrefix(in.data, []byte("PK\x03\x04")) {
			warns = append(warns, warn.New(warn.ZipEntrySkipped, in.path, fmt.Sprintf("skipped %s: archives inside archives are not read (extract it first)", in.path)))
			continue
		}
		kept = append(kept, in)
	}
	sort.Slice(kept, func(a, b int) bool { return kept[a].path < kept[b].path })
	return kept, warns, release, nil
}

// unsafeZipName reports an entry name that is absolute or climbs out of
// the archive's root.
func unsafeZipName(name string) bool {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return true
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// inflateEntry reads one entry, refusing one that inflates past its
// declared size.
func inflateEntry(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsafeZip, err)
	}
	defer rc.Close()
	data := make([]byte, zf.UncompressedSize64)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("%w: inflating: %w", ErrUnsafeZip, err)
	}
	var one [1]byte
	if n, _ := rc.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("%w: entry inflates past its declared %d bytes", ErrUnsafeZip, zf.UncompressedSize64)
	}
	return data, nil
}

// parseAll parses the inputs in parallel (under internal/par's budget). It
// returns the parsed headers and, per input that failed, its error
// (non-DICOM files included).
func parseAll(in []inputFile) ([]*header, []error) {
	hs := make([]*header, len(in))
	errs := make([]error, len(in))
	scratch := make([][]byte, par.Limit())
	par.For(len(in), func(w, i int) {
		if in[i].data != nil {
			hs[i], errs[i] = parseBytes(in[i].path, in[i].data)
			return
		}
		hs[i], errs[i] = readHeaderFile(in[i].path, &scratch[w])
	})
	return hs, errs
}
