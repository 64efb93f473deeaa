package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/safefile"
)

// A redone scan must not leave its earlier run's outputs beside the new
// ones: a report, pictures or volumes of the old settings would show other
// numbers than submission.csv. runOne removes what the earlier done.json
// listed before the scan is processed again, so that the folder then holds
// this run's outputs only, also when the redo fails.

// previousOutputs returns the names the done.json in dir lists under
// "files": the outputs of the run that last completed the scan. It is nil
// when there is no done.json or it cannot be read as JSON (then nothing
// it names can be trusted); the files need not all exist.
func previousOutputs(dir string) []string {
	f, err := safefile.Open(filepath.Join(dir, DoneFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxDoneBytes+1))
	if err != nil || len(b) > MaxDoneBytes {
		return nil
	}
	var rec struct {
		Files []string `json:"files"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	return rec.Files
}

// removePrevious removes the listed files of scan folder dir (see
// previousOutputs): only names that stay inside dir, resolved through
// os.Root so that no symbolic link leads out, and only regular files (a
// name that is now a link, a folder or anything else is left alone, as is
// done.json). A name already gone is no error; a file that cannot be
// removed is, naming it, since it would stay beside the new outputs.
func removePrevious(dir string, files []string) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer root.Close()
	for _, name := range files {
		if !filepath.IsLocal(name) || filepath.Clean(name) == DoneFile {
			continue
		}
		st, err := root.Lstat(name)
		if err != nil || !st.Mode().IsRegular() {
			continue // gone, outside dir, or not a file lungctl wrote
		}
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: remove the previous run's output: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}
