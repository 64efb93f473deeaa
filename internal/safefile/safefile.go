// Package safefile opens input files so that hostile paths cannot hang or
// redirect a reader: a FIFO, device or socket is refused without blocking
// (it is opened non-blocking and checked with fstat before any read), and a
// file named by another file (an .mhd's ElementDataFile) is opened inside
// its folder only.
package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotRegular reports a path that is not a regular file (a FIFO, device,
// socket or folder).
var ErrNotRegular = errors.New("not a regular file")

// ErrOutside reports a path named inside a file that would resolve outside
// the folder it must stay in (absolute, "..", or a link leading out).
var ErrOutside = errors.New("resolves outside the file's folder")

// Open opens path for reading and returns it only when it is a regular file
// (following symbolic links); otherwise the error wraps ErrNotRegular and
// names the kind. A FIFO without a writer does not block the call.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(f, path); err != nil {
		_ = f.Close() // read-only; the check's error is the one to report
		return nil, err
	}
	return f, nil
}

// OpenBeside opens name, a path written inside the file header (an .mhd),
// relative to header's folder. name must be relative and stay inside that
// folder, also through symbolic links (os.Root semantics); the result must
// be a regular file.
func OpenBeside(header, name string) (*os.File, error) {
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || filepath.VolumeName(name) != "" {
		return nil, fmt.Errorf("%q: %w (absolute path)", name, ErrOutside)
	}
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return nil, fmt.Errorf("%q: %w (\"..\")", name, ErrOutside)
		}
	}
	root, err := os.OpenRoot(filepath.Dir(header))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(filepath.FromSlash(name), os.O_RDONLY|oNonblock, 0)
	if err != nil {
		if strings.Contains(err.Error(), "escapes") {
			return nil, fmt.Errorf("%q: %w (a link leads out): %w", name, ErrOutside, err)
		}
		return nil, err
	}
	if err := checkRegular(f, name); err != nil {
		_ = f.Close() // read-only; the check's error is the one to report
		return nil, err
	}
	return f, nil
}

func checkRegular(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if m := st.Mode(); !m.IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Kind(m))
	}
	return nil
}

// Kind names a file mode's type for messages: "FIFO", "device", ...
func Kind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "folder"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	}
	return "irregular file"
}
