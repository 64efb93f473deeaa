//go:build unix

package classify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/safefile"
)

// TestLoadRefusesFIFOsAndDevices: a FIFO without a writer (which blocked
// Load forever) and a character device such as /dev/zero (which it read
// without end) are refused at once by kind, naming the path.
func TestLoadRefusesFIFOsAndDevices(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.lcnn")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	paths := map[string]string{fifo: "FIFO"}
	if st, err := os.Stat("/dev/zero"); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		paths["/dev/zero"] = "character device"
	}
	for p, kind := range paths {
		done := make(chan error, 1)
		go func() {
			_, err := Load(p)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), kind) {
				t.Errorf("Load(%s): %v, want ErrNotRegular naming it and %q", p, err, kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) still running after 5 s", p)
		}
	}
}
