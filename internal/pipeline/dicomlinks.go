package pipeline

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lungctl/lungctl/internal/dicomio"
)

// maxDepth bounds how deep loadDICOM follows folders below a scan's folder.
const maxDepth = 64

// loadDICOM loads the series under dir with dicomio. dicomio's own walk
// takes regular files only and does not enter a folder that is a symbolic
// link; when dir is a link or holds links (to files or folders), the files
// are listed here instead, following links with every real folder visited
// once (a link back up is a loop and is skipped with a warning), and handed
// to dicomio.LoadFiles. FIFOs, sockets and devices are never opened.
func loadDICOM(dir string, opt dicomio.Options) (*dicomio.Scan, error) {
	w := linkWalker{seen: map[string]bool{}}
	if st, err := os.Lstat(dir); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		w.links++
	}
	if err := w.walk(dir, 0); err != nil {
		return nil, err
	}
	if w.links == 0 {
		return dicomio.Load(dir, opt)
	}
	if len(w.files) == 0 {
		return nil, fmt.Errorf("dicomio: %s: %w: folder has no files", dir, dicomio.ErrNoCTSeries)
	}
	sort.Strings(w.files)
	s, err := dicomio.LoadFiles(w.files, opt)
	if err != nil {
		return nil, err
	}
	s.Warnings = append(w.warnings, s.Warnings...)
	return s, nil
}

// linkWalker lists regular files under a folder, following symbolic links.
type linkWalker struct {
	files    []string
	warnings []string
	links    int
	seen     map[string]bool // real paths of the folders visited
	stack    []string        // real paths of the folders being walked
}

// above reports whether real is a folder that holds one being walked (a
// link to it would walk that folder again, and everything beside it).
func (w *linkWalker) above(real string) bool {
	for _, s := range w.stack {
		if rel, err := filepath.Rel(real, s); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

func (w *linkWalker) walk(dir string, depth int) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", dir, err)
	}
	if w.seen[real] || w.above(real) {
		w.warnings = append(w.warnings, fmt.Sprintf("skipped %s: symbolic link loop (%s is read already)", dir, real))
		return nil
	}
	if depth > maxDepth {
		w.warnings = append(w.warnings, fmt.Sprintf("skipped %s: more than %d folders deep", dir, maxDepth))
		return nil
	}
	w.seen[real] = true
	w.stack = append(w.stack, real)
	defer func() { w.stack = w.stack[:len(w.stack)-1] }()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", dir, err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		t := e.Type()
		if t&fs.ModeSymlink != 0 {
			w.links++
			st, err := os.Stat(p)
			if err != nil {
				w.warnings = append(w.warnings, fmt.Sprintf("skipped %s: %v", p, err))
				continue
			}
			t = st.Mode().Type()
		}
		switch {
		case t.IsDir():
			if err := w.walk(p, depth+1); err != nil {
				return err
			}
		case t.IsRegular():
			w.files = append(w.files, p)
		default:
			w.warnings = append(w.warnings, fmt.Sprintf("skipped %s: a %s", p, kindName(t)))
		}
	}
	return nil
}
