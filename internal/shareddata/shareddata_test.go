package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPathIsBesideModuleRoot(t *testing.T) {
	p := Path("lidc-idri-0001")
	// From internal/shareddata the module root is two levels up.
	want, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data", "lidc-idri-0001"))
	if got, _ := filepath.Abs(p); got != want {
		t.Fatalf("Path = %s, want %s", got, want)
	}
	if _, err := os.Stat(want); err == nil {
		if d := Dir(t, "lidc-idri-0001"); d != p {
			t.Fatalf("Dir = %s", d)
		}
	}
}
