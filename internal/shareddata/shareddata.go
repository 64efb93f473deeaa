// Package shareddata locates the project's real test data: the shared/data
// folder that sits beside the repository (../shared/data from the root; CI
// has the same layout). Tests read it in place and skip when it is absent.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns shared/data joined with sub, found from the working
// directory's module root (the nearest folder above it holding go.mod); it
// does not check that the path exists.
func Path(sub ...string) string {
	root := "."
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return filepath.Join(append([]string{root, "..", "shared", "data"}, sub...)...)
}

// Dir returns Path(sub...) and skips tb with a message naming the path when
// it does not exist.
func Dir(tb testing.TB, sub ...string) string {
	tb.Helper()
	p := Path(sub...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared real data not available at %s: %v", p, err)
	}
	return p
}
