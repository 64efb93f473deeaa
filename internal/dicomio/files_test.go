//go:build unix

package dicomio

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/warn"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestSymlinkFarm: a folder of symbolic links to files (and a link to a
// folder) loads; a link loop and a broken link are skipped with warnings.
func TestSymlinkFarm(t *testing.T) {
	real := t.TempDir()
	files := writeSeries(t, real, "s", "P", "1.7.1", 4, 4, 4, nil)
	farm := t.TempDir()
	for _, f := range files[:2] {
		testfs.Symlink(t, f, filepath.Join(farm, filepath.Base(f)))
	}
	sub := t.TempDir()
	for _, f := range files[2:] {
		testfs.Symlink(t, f, filepath.Join(sub, filepath.Base(f)))
	}
	testfs.Symlink(t, sub, filepath.Join(farm, "more"))
	testfs.Symlink(t, farm, filepath.Join(sub, "loop")) // more/loop → farm
	testfs.Symlink(t, "/nonexistent/x", filepath.Join(farm, "broken"))
	done := make(chan struct{})
	var sc *Scan
	var err error
	go func() { sc, err = Load(farm, Options{}); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Load did not return on a symlink loop")
	}
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 4 {
		t.Fatalf("%d slices through the links, want 4", sc.HU.Dims[2])
	}
	var loop, broken bool
	for _, w := range sc.Warnings {
		loop = loop || w.Code == warn.SkippedLink && strings.Contains(w.Message, "leads back")
		broken = broken || w.Code == warn.SkippedLink && strings.Contains(w.Message, "broken")
	}
	if !loop || !broken {
		t.Errorf("loop warned %v, broken link warned %v: %v", loop, broken, sc.Warnings)
	}
}

// TestFIFOInFolder: a FIFO among the files is skipped without being
// opened (opening it would block forever).
func TestFIFOInFolder(t *testing.T) {
	dir := t.TempDir()
	writeSeries(t, dir, "s", "P", "1.7.2", 3, 4, 4, nil)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("no FIFOs: %v", err)
	}
	testfs.Symlink(t, filepath.Join(dir, "pipe"), filepath.Join(dir, "link-to-pipe"))
	done := make(chan struct{})
	var sc *Scan
	var err error
	go func() { sc, err = Load(dir, Options{}); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Load blocked on a FIFO")
	}
	if err != nil || sc.HU.Dims[2] != 3 {
		t.Fatalf("%v", err)
	}
	n := 0
	for _, w := range sc.Warnings {
		if w.Code == warn.SkippedNotRegular {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d FIFO warnings, want 2 (the FIFO and the link to it): %v", n, sc.Warnings)
	}
	// Named directly, it is refused at once.
	if _, err := LoadFiles([]string{filepath.Join(dir, "pipe")}, Options{}); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("FIFO as a file: %v", err)
	}
}

// zipOf writes a .zip of the given name → content entries.
func zipOf(t *testing.T, path string, entries [][2]string) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	testfs.Must(t, zw.Close())
	testfs.WriteFile(t, path, b.Bytes())
}

// TestZip: a .zip of a series loads like the folder; a name climbing out
// of the archive is refused; a nested archive is skipped with a warning;
// too many entries and more inflated bytes than the budget are refused.
func TestZip(t *testing.T) {
	src := t.TempDir()
	files := writeSeries(t, src, "s", "P", "1.7.3", 4, 4, 4, nil)
	var entries [][2]string
	for i, f := range files {
		b, _ := os.ReadFile(f)
		entries = append(entries, [2]string{[]string{"a/", "b/c/", "", "d/"}[i] + filepath.Base(f), string(b)})
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "scan.zip")
	zipOf(t, good, append(entries, [2]string{"notes.txt", "hello"}, [2]string{"inner.zip", "PK\x03\x04..."}))
	sc, err := Load(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := Load(src, Options{})
	if sc.HU.Grid != ref.HU.Grid || !equalI16(sc.HU.Data, ref.HU.Data) {
		t.Fatalf("zip loads %v, folder %v", sc.HU.Grid, ref.HU.Grid)
	}
	var nested bool
	for _, w := range sc.Warnings {
		nested = nested || w.Code == warn.ZipEntrySkipped && strings.Contains(w.File, "inner.zip")
	}
	if !nested {
		t.Errorf("nested zip not reported: %v", sc.Warnings)
	}
	if infos, err := ScanDir(good); err != nil || len(infos) != 1 || infos[0].NumSlices != 4 {
		t.Errorf("ScanDir of a zip: %+v %v", infos, err)
	}
	for _, name := range []string{"../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", `..\evil.dcm`} {
		bad := filepath.Join(dir, "bad.zip")
		zipOf(t, bad, append(entries[:1:1], [2]string{name, "x"}))
		_, err := Load(bad, Options{})
		if !errors.Is(err, ErrUnsafeZip) || !strings.Contains(err.Error(), bad) {
			t.Errorf("entry %q: %v", name, err)
		}
	}
	// Inflated size against the budget.
	testfs.SetBudget(t, 32<<20)
	big := filepath.Join(dir, "big.zip")
	zipOf(t, big, append(entries, [2]string{"zeros.bin", string(make([]byte, 64<<20))}))
	_, err = Load(big, Options{})
	wantErr(t, err, membudget.ErrTooBig, big)
}

func TestZipTooManyEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a zip of 100,001 entries: skipped in -short mode")
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i <= MaxZipEntries; i++ {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: "e", Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	testfs.Must(t, zw.Close())
	p := filepath.Join(t.TempDir(), "many.zip")
	testfs.WriteFile(t, p, b.Bytes())
	_, err := Load(p, Options{})
	wantErr(t, err, ErrUnsafeZip, p)
}

func equalI16(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
