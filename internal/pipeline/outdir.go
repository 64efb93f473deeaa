package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/safefile"
)

// ErrOutside reports an output path that would not lie under the output
// folder.
var ErrOutside = errors.New("path outside the output folder")

// Within returns p when it lies strictly under the folder root (lexically,
// after cleaning both), and an error wrapping ErrOutside otherwise.
func Within(root, p string) (string, error) {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s: %w %s", p, ErrOutside, root)
	}
	return p, nil
}

// outPath joins name onto the output folder and checks the result lies
// under it.
func outPath(out, name string) (string, error) {
	return Within(out, filepath.Join(out, name))
}

// scanDir returns OUT/<id>, refusing a path that would leave OUT and an
// existing entry that is not a real folder (a symbolic link or file there
// would make the scan's outputs land elsewhere).
func scanDir(out, id string) (string, error) {
	p, err := outPath(out, id)
	if err != nil {
		return "", err
	}
	if st, err := os.Lstat(p); err == nil && !st.IsDir() {
		return "", fmt.Errorf("%s exists and is a %s, not a scan folder: move it away", p, safefile.Kind(st.Mode()))
	}
	return p, nil
}

// isTemp reports whether name is an atomicfile temporary (".<name>.tmp-*").
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// removeStaleTemps deletes temporary files a killed run left in dir
// (atomicfile's ".<name>.tmp-*"): they never carry a final name, but they
// waste space. With only, just the temporaries of those final names go
// (a shard must not touch its siblings' files in a shared folder).
func removeStaleTemps(dir string, only ...string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if !isTemp(n) || e.Type()&fs.ModeType != 0 {
			continue
		}
		if len(only) > 0 {
			base := strings.TrimPrefix(n[:strings.Index(n, ".tmp-")], ".")
			keep := true
			for _, o := range only {
				keep = keep && base != o
			}
			if keep {
				continue
			}
		}
		// Best effort: a temporary that stays is only space, tried again
		// by the next run.
		_ = os.Remove(filepath.Join(dir, n))
	}
}
