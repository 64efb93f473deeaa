package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/npy"
)

// TestReadPointsNPYNoPoints: a .npy of shape (0, 3) is refused naming the
// file, as an empty points CSV is; meanshift exited 0 on it.
func TestReadPointsNPYNoPoints(t *testing.T) {
	var b bytes.Buffer
	if err := npy.Write(&b, nil, []int{0, 3}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "none.npy")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPointsNPY(p); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "no points") {
		t.Errorf("0 points: %v", err)
	}
}
