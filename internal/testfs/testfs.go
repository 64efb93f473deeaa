// Package testfs lays out test fixtures on disk: each helper fails the test
// at once when the file system refuses, so a fixture that was not written
// cannot make a later check pass (or fail) for the wrong reason. It also
// sets the process's memory budget for one test (SetBudget) and recognises
// a refusal over that budget (TooBig). Only tests import it.
package testfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
)

// WriteFile writes data to path (mode 0644), creating its folder.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	MkdirAll(t, filepath.Dir(path))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Symlink makes newname a symbolic link to oldname.
func Symlink(t testing.TB, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

// MkdirAll makes dir and its parents (mode 0755).
func MkdirAll(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Must fails the test when err is not nil: for a fixture step (closing an
// in-memory archive writer, say) whose failure means the fixture is wrong.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// SetBudget sets the memory budget (membudget.Set) to b bytes for the rest
// of the test and puts back the budget it found when the test ends. The
// budget is process-wide: a test that calls it must not run in parallel.
func SetBudget(t testing.TB, b uint64) {
	t.Helper()
	old := membudget.Limit()
	membudget.Set(b)
	t.Cleanup(func() { membudget.Set(old) })
}

// TooBig reports whether err wraps membudget.ErrTooBig and its message
// holds every one of parts (the file and line it should name, say). A nil
// err is not too big.
func TooBig(err error, parts ...string) bool {
	if !errors.Is(err, membudget.ErrTooBig) {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
