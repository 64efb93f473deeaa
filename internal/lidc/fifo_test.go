//go:build unix

package lidc

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/safefile"
)

// TestFIFOXMLDoesNotBlock: a FIFO named *.xml beside a series is skipped by
// FindXML and refused by ParseFile, neither waiting for a writer (os.Open
// of a FIFO blocks until one comes).
func TestFIFOXMLDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "reads.xml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan [2]error, 1)
	go func() {
		_, ferr := FindXML(dir, "")
		_, perr := ParseFile(fifo)
		done <- [2]error{ferr, perr}
	}()
	select {
	case errs := <-done:
		if !errors.Is(errs[0], ErrNoXML) {
			t.Errorf("FindXML with only a FIFO: %v, want ErrNoXML", errs[0])
		}
		if !errors.Is(errs[1], safefile.ErrNotRegular) {
			t.Errorf("ParseFile of a FIFO: %v, want safefile.ErrNotRegular", errs[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FindXML or ParseFile blocked on a FIFO")
	}
}
