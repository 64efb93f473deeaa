package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/safefile"
)

// checkOut checks, before any training, that the model can be written to
// path by classify.Model.Save (internal/atomicfile): path must be absent or
// a regular file in a folder where a file can be created (the temporary
// file renamed over it), or a character device or FIFO (written into, as
// atomicfile does: -o /dev/null). A folder, a symbolic link to a file or
// folder, a dangling symbolic link or another kind of file is refused with
// an error wrapping atomicfile.ErrSymlink or atomicfile.ErrSpecial; a
// missing or unwritable folder with the error of creating a file there.
// The folder is not created: the caller does that (lungctl train does).
func checkOut(path string) error {
	lst, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && lst.Mode().IsRegular():
		return probeFolder(path)
	case err != nil:
		return fmt.Errorf("train: output %s: %w", path, err)
	}
	m := lst.Mode()
	if m&fs.ModeSymlink == 0 {
		if m&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0 {
			return nil
		}
		if m.IsDir() {
			return fmt.Errorf("train: output %s: %w (it is a folder; give a file path such as %s)",
				path, atomicfile.ErrSpecial, filepath.Join(path, "model.lcnn"))
		}
		return fmt.Errorf("train: output %s: %w (it is a %s)", path, atomicfile.ErrSpecial, safefile.Kind(m))
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("train: output %s: %w (a symbolic link that leads nowhere: %w)", path, atomicfile.ErrSpecial, err)
	case st.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
		return nil
	case st.Mode().IsRegular():
		return fmt.Errorf("train: output %s: %w", path, atomicfile.ErrSymlink)
	default:
		return fmt.Errorf("train: output %s: %w (a symbolic link to a %s)", path, atomicfile.ErrSpecial, safefile.Kind(st.Mode()))
	}
}

// probeFolder creates and removes a temporary file beside path, as the
// atomic write will, so that a missing or read-only folder fails now.
func probeFolder(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".probe-*")
	if err != nil {
		return fmt.Errorf("train: output %s: cannot create a file in its folder: %w", path, err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("train: output %s: remove the test file: %w", path, err)
	}
	if cerr != nil {
		return fmt.Errorf("train: output %s: test file: %w", path, cerr)
	}
	return nil
}
