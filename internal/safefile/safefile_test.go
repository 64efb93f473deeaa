//go:build unix

package safefile

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestFIFONoHang: opening a FIFO that no one writes to returns at once
// with ErrNotRegular (a plain open would block forever).
func TestFIFONoHang(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := Open(fifo)
		if f != nil {
			testfs.Must(t, f.Close())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("FIFO: %v, want ErrNotRegular", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("folder: %v", err)
	}
	if _, err := Open("/dev/null"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("device: %v", err)
	}
}

func TestOpenBeside(t *testing.T) {
	dir := t.TempDir()
	hdr := filepath.Join(dir, "sub", "x.mhd")
	testfs.MkdirAll(t, filepath.Dir(hdr))
	testfs.WriteFile(t, filepath.Join(dir, "sub", "x.raw"), []byte("data"))
	testfs.WriteFile(t, filepath.Join(dir, "secret"), []byte("secret"))
	testfs.Symlink(t, filepath.Join(dir, "secret"), filepath.Join(dir, "sub", "link.raw"))
	testfs.Symlink(t, "x.raw", filepath.Join(dir, "sub", "inner.raw"))
	f, err := OpenBeside(hdr, "x.raw")
	if err != nil {
		t.Fatal(err)
	}
	testfs.Must(t, f.Close())
	if f, err := OpenBeside(hdr, "inner.raw"); err != nil {
		t.Errorf("link inside the folder: %v", err)
	} else {
		testfs.Must(t, f.Close())
	}
	for _, name := range []string{"/etc/passwd", "../secret", "a/../../secret", `..\secret`, "link.raw", ""} {
		if f, err := OpenBeside(hdr, name); !errors.Is(err, ErrOutside) {
			if f != nil {
				testfs.Must(t, f.Close())
			}
			t.Errorf("%q: %v, want ErrOutside", name, err)
		}
	}
	fifo := filepath.Join(dir, "sub", "p.raw")
	if syscall.Mkfifo(fifo, 0o644) == nil {
		if _, err := OpenBeside(hdr, "p.raw"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO beside the header: %v", err)
		}
	}
}
