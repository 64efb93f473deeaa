package pipeline

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/lungctl/lungctl/internal/textsafe"
)

func TestScanIDIsAlwaysOnePlainName(t *testing.T) {
	for in, want := range map[string]string{
		"stage1/0015ceb851d7251b8f399e39779d1e7d": "0015ceb851d7251b8f399e39779d1e7d",
		"subset0/1.3.6.1.4.mhd":                   "1.3.6.1.4",
		"x/...nii.gz":                             "__",
		"x/..":                                    "_",
		"..":                                      "__",
		".":                                       "_",
		"":                                        "_",
		"/":                                       "_",
		"x/.hidden":                               "_hidden",
		"x/a\nb\x1b[31m":                          "a_b_[31m",
		"x/evil\u202egnp":                         "evil_gnp",
		"x/bad\xff.nii":                           "bad_",
		"x/a..b.nii.gz":                           "a..b",
		`x/back\slash`:                            "back_slash",
	} {
		got := ScanID(in)
		if got != want {
			t.Errorf("ScanID(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 300)
	a, b := ScanID("x/"+long+"a"), ScanID("x/"+long+"b")
	if len(a) > MaxIDBytes || a == b || !filepath.IsLocal(a) || !textsafe.Clean(a) {
		t.Errorf("long ids: %q (%d bytes), %q", a, len(a), b)
	}
}

// TestDotDotInputStaysInOut: a single input named "...nii.gz" had the id
// ".." and made run write into the parent of -o (with --volumes over the
// input itself). Its outputs now land in OUT/__/ and nothing outside OUT
// changes.
func TestDotDotInputStaysInOut(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	scan := filepath.Join(in, "...nii.gz")
	mkfile(t, scan, []byte("the input"))
	out := filepath.Join(in, "out")
	cfg := fakeConfig(scan, out, func(_ context.Context, input, dir string) (ScanRecord, []candidate.Candidate, error) {
		// What --volumes does: <id>.nii.gz in the scan folder.
		p := filepath.Join(dir, ScanID(input)+".nii.gz")
		return ScanRecord{Files: []string{filepath.Base(p)}}, nil, os.WriteFile(p, []byte("volume"), 0o644)
	})
	sum, err := Run(context.Background(), cfg)
	if err != nil || sum.Succeeded != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
	if b, _ := os.ReadFile(scan); string(b) != "the input" {
		t.Errorf("input overwritten: %q", b)
	}
	ents, _ := os.ReadDir(in)
	if len(ents) != 2 {
		t.Errorf("input folder now holds %d entries, want the scan and out/", len(ents))
	}
	if _, err := ReadDone(filepath.Join(out, "__")); err != nil {
		t.Errorf("scan not complete in OUT/__: %v", err)
	}
	if _, err := Within(out, filepath.Join(out, "..", "x")); err == nil {
		t.Error("Within accepted a path above the folder")
	}
}

// TestListScansFollowsLinksSkipsSpecials: a symlinked input folder, symlinked
// patient folders and symlinked scan files are listed; a link loop, a
// dangling link, a FIFO and a socket are skipped with a warning, and the
// listing never blocks on the FIFO; the output folder inside the input is
// left out.
func TestListScansFollowsLinksSkipsSpecials(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	mkfile(t, filepath.Join(real, "pA", "1.dcm"), fakeDICOM)
	mkfile(t, filepath.Join(real, "pB", "1"), fakeDICOM)
	mkfile(t, filepath.Join(real, "s.mhd"), []byte("NDims = 3\n"))
	in := filepath.Join(root, "stage1")
	testfs.MkdirAll(t, filepath.Join(in, "pC"))
	mkfile(t, filepath.Join(in, "pC", "1.dcm"), fakeDICOM)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(real, "pA"), filepath.Join(in, "pA")))
	must(os.Symlink(filepath.Join(real, "pB"), filepath.Join(in, "pB")))
	must(os.Symlink(filepath.Join(real, "s.mhd"), filepath.Join(in, "s.mhd")))
	must(os.Symlink(in, filepath.Join(in, "loop")))
	must(os.Symlink(root, filepath.Join(in, "up")))
	must(os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(in, "dangling")))
	must(syscall.Mkfifo(filepath.Join(in, "fifo"), 0o600))
	l, err := net.Listen("unix", filepath.Join(in, "sock"))
	must(err)
	defer l.Close()
	out := filepath.Join(in, "out")
	mkfile(t, filepath.Join(out, "p1", "done.json"), []byte("{}"))
	link := filepath.Join(root, "linked-stage1")
	must(os.Symlink(in, link))

	type res struct {
		scans, warns []string
		err          error
	}
	done := make(chan res, 1)
	go func() {
		s, w, err := ListScans(link, filepath.Join(link, "out"))
		done <- res{s, w, err}
	}()
	var r res
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ListScans blocked (on the FIFO?)")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	var ids []string
	for _, s := range r.scans {
		ids = append(ids, ScanID(s))
	}
	if strings.Join(ids, ",") != "pA,pB,pC,s" {
		t.Errorf("scans %v, want pA,pB,pC,s", ids)
	}
	w := strings.Join(r.warns, "\n")
	for _, want := range []string{"loop", "up", "dangling", "fifo: a FIFO", "sock: a socket"} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning about %q in:\n%s", want, w)
		}
	}
}

// TestLoadDICOMFollowsLinks: a patient folder that is a link, and one that
// holds links to the slices, load like the real folder (dicomio's walk
// follows both); a link back up is skipped as a loop.
func TestLoadDICOMFollowsLinks(t *testing.T) {
	real := phantomSeries(t)
	ref, err := dicomio.Load(real, dicomioOptions())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	linkedDir := filepath.Join(root, "linked")
	testfs.Symlink(t, real, linkedDir)
	files := filepath.Join(root, "files")
	testfs.MkdirAll(t, files)
	ents, _ := os.ReadDir(real)
	for _, e := range ents {
		testfs.Symlink(t, filepath.Join(real, e.Name()), filepath.Join(files, e.Name()))
	}
	testfs.Symlink(t, root, filepath.Join(files, "up"))
	for _, dir := range []string{linkedDir, files} {
		s, err := dicomio.Load(dir, dicomioOptions())
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if s.HU.Dims != ref.HU.Dims || s.Info.UID != ref.Info.UID {
			t.Errorf("%s: dims %v series %s, want %v %s", dir, s.HU.Dims, s.Info.UID, ref.HU.Dims, ref.Info.UID)
		}
	}
}

// A scan folder that is a symbolic link (planted in OUT) would make the
// scan's files land elsewhere: that scan fails, the others run.
func TestRunRefusesLinkedScanFolder(t *testing.T) {
	in := fakeScans(t, "p1", "p2")
	out := t.TempDir()
	elsewhere := t.TempDir()
	testfs.Symlink(t, elsewhere, filepath.Join(out, "p1"))
	var mu sync.Mutex
	sum, err := Run(context.Background(), fakeConfig(in, out, fakeScan(map[string]int{}, &mu)))
	if err != nil || sum.Failed != 1 || sum.Failures[0].ID != "p1" || !strings.Contains(sum.Failures[0].Error, "symbolic link") {
		t.Fatalf("%+v %v", sum, err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through the link: %v", ents)
	}
}

// A file in OUT that is a symbolic link to a file elsewhere (the batch's
// submission.csv here) is refused, not written through: the run reports
// it, and the file the link points to keeps its content.
func TestRunRefusesLinkedOutputFile(t *testing.T) {
	in := fakeScans(t, "p1")
	out := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim.txt")
	testfs.WriteFile(t, victim, []byte("keep me"))
	testfs.Symlink(t, victim, filepath.Join(out, "submission.csv"))
	var mu sync.Mutex
	_, err := Run(context.Background(), fakeConfig(in, out, fakeScan(map[string]int{}, &mu)))
	if err == nil || !strings.Contains(err.Error(), "submission.csv") || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("run over a linked submission.csv: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// run --annotations reads them as eval does: a negative diameter is
// refused naming the file (only the excluded file's -1 means unknown).
func TestRunAnnotationsRefuseNegativeDiameter(t *testing.T) {
	dir := t.TempDir()
	ann := filepath.Join(dir, "annotations.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,1,2,3,-4\n"))
	exc := filepath.Join(dir, "excluded.csv")
	testfs.WriteFile(t, exc, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,1,2,3,-1\n"))
	if _, err := readReferences(&Config{Annotations: ann}); err == nil || !strings.Contains(err.Error(), ann) {
		t.Errorf("negative annotation diameter: %v", err)
	}
	if _, err := readReferences(&Config{Excluded: exc}); err != nil {
		t.Errorf("LUNA16's -1 in the excluded file: %v", err)
	}
}
