package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/classify"
)

// TestRunChecksOutFirst: an output that cannot be written (a folder, a
// symbolic link to a file, a dangling link, a missing folder) fails Run
// before any data is read; absent, regular and /dev/null pass.
func TestRunChecksOutFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "old.lcnn")
	writeFile(t, file, "old")
	link, dangling := filepath.Join(dir, "link.lcnn"), filepath.Join(dir, "dangling.lcnn")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out  string
		want error
		say  string
	}{
		{dir, atomicfile.ErrSpecial, "it is a folder"},
		{link, atomicfile.ErrSymlink, "symbolic link"},
		{dangling, atomicfile.ErrSpecial, "leads nowhere"},
		{filepath.Join(dir, "missing", "m.lcnn"), os.ErrNotExist, "create temporary file for"},
		{filepath.Join(file, "m.lcnn"), nil, "not a directory"},
	} {
		// The annotations do not exist: an error about them means the
		// data was read before the output was checked.
		cfg := Config{Out: tc.out, Source: classify.SourceLUNA16,
			LUNA: LUNAOptions{Annotations: filepath.Join(dir, "absent.csv"), VolumeDir: dir}}
		_, err := Run(context.Background(), cfg)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.out) ||
			!strings.Contains(err.Error(), tc.say) || strings.Contains(err.Error(), "absent.csv") {
			t.Errorf("-o %s: %v; want an error naming it, saying %q", tc.out, err, tc.say)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "old" {
		t.Errorf("the link's target changed: %q, %v", b, err)
	}
	for _, out := range []string{filepath.Join(dir, "new.lcnn"), file, os.DevNull} {
		if err := checkOut(out); err != nil {
			t.Errorf("checkOut(%s): %v", out, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("the checks left files behind: %v", ents)
	}
}

// TestNoteBounded: a note longer than MaxNoteBytes is refused before
// training (the card would not fit the model header, found at the end).
func TestNoteBounded(t *testing.T) {
	cfg := Config{Note: strings.Repeat("n", MaxNoteBytes+1)}
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Note") {
		t.Errorf("a %d-byte note: %v", MaxNoteBytes+1, err)
	}
	cfg.Note = strings.Repeat("n", MaxNoteBytes)
	if err := cfg.Validate(); err != nil {
		t.Errorf("a %d-byte note: %v", MaxNoteBytes, err)
	}
}
