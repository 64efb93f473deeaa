// Package atomicfile writes output files so that a final name only ever holds
// a complete file: data goes to a temporary file in the same folder, is
// synced, and is renamed over the final name when the writer succeeds.
//
// Paths that are not plain files are never renamed over:
//
//   - A character device or a FIFO (-o /dev/stdout on a terminal or a pipe,
//     /dev/null, a named pipe), reached directly or through symbolic links,
//     is written straight into: it cannot be replaced atomically, and
//     replacing it would break it (as root, renaming over /dev/stdout
//     replaced the system's symbolic link with a regular file). Such a write
//     is not atomic; a FIFO blocks until it has a reader.
//   - A symbolic link to a regular file is refused with an error wrapping
//     ErrSymlink: following it would write wherever it points, and a link
//     planted in an output folder (OUT/<id>/candidates.csv -> /etc/...)
//     would take a write outside that folder. Nothing is written, the link
//     and its target are left as they were.
//   - A directory, a socket, a block device or a dangling symbolic link is
//     refused with an error wrapping ErrSpecial.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/safefile"
)

// ErrSpecial reports an output path that is neither a regular file (or
// absent), nor a character device or FIFO to write through.
var ErrSpecial = errors.New("not a regular file, character device or FIFO")

// ErrSymlink reports an output path that is a symbolic link to a regular
// file (see the package comment).
var ErrSymlink = errors.New("a symbolic link to a file: refusing to write through it (remove the link, or give the file's own path)")

// Write creates path atomically: write receives the temporary file in the
// same folder; when it returns nil the file is synced and renamed to path,
// otherwise it is removed and path is left as it was. See the package
// comment for paths that are devices, FIFOs or symbolic links.
func Write(path string, write func(w io.Writer) error) error {
	target, through, err := resolve(path)
	if err != nil {
		return err
	}
	if through {
		return writeThrough(path, write)
	}
	return writeAtomic(path, target, write)
}

// resolve says where the atomic write goes (path itself) or that path is
// to be written through.
func resolve(path string) (target string, through bool, err error) {
	lst, lerr := os.Lstat(path)
	if errors.Is(lerr, fs.ErrNotExist) {
		return path, false, nil
	}
	if lerr != nil {
		return "", false, fmt.Errorf("%s: %w", path, lerr)
	}
	if lst.Mode().IsRegular() {
		return path, false, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w (a symbolic link that leads nowhere: %w)", path, ErrSpecial, err)
	}
	switch m := st.Mode(); {
	case m&fs.ModeCharDevice != 0 || m&fs.ModeNamedPipe != 0:
		return path, true, nil
	case m.IsRegular():
		t, err := filepath.EvalSymlinks(path)
		if err != nil {
			t = "?"
		}
		return "", false, fmt.Errorf("%s (-> %s): %w", path, t, ErrSymlink)
	default:
		return "", false, fmt.Errorf("%s: %w (it is a %s)", path, ErrSpecial, safefile.Kind(m))
	}
}

// writeThrough writes into an existing character device or FIFO.
func writeThrough(path string, write func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write error is the one to report
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// writeAtomic writes target through a temporary file beside it; path names
// the output in errors.
func writeAtomic(path, target string, write func(w io.Writer) error) (err error) {
	f, err := createTemp(path, target)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil { // cleanup after the error being returned; theirs add nothing
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}

// Check reports, without writing, the error Write would give for path
// itself: a symbolic link to a file, a folder or another special file, or
// a folder where the temporary file cannot be created (one is created and
// removed there). A character device or FIFO passes. A command that works
// long before it writes (training) checks its output first.
func Check(path string) error {
	target, through, err := resolve(path)
	if err != nil || through {
		return err
	}
	f, err := createTemp(path, target)
	if err != nil {
		return err
	}
	tmp := f.Name()
	cerr := f.Close()
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove temporary file for %s: %w", path, err)
	}
	if cerr != nil {
		return fmt.Errorf("close temporary file for %s: %w", path, cerr)
	}
	return nil
}

// WriteBytes writes b to path atomically.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// createTemp creates the hidden temporary file beside target through which
// it is written; path names the output in errors.
func createTemp(path, target string) (*os.File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	return f, nil
}
