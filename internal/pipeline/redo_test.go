package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
)

// outputsScan is settingsScan that also writes pics pictures and, with
// opt.Report, a report into the scan folder, listing them as Worker.Process
// does; each file holds the leak, the scan's result.
func outputsScan(opt *ScanOptions, pics *int, calls map[string]int, mu *sync.Mutex) ScanFunc {
	scan := settingsScan(opt, calls, mu)
	return func(ctx context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
		rec, cs, err := scan(ctx, in, dir)
		id := ScanID(in)
		var names []string
		for k := 1; k <= *pics; k++ {
			names = append(names, id+"_cand0"+string(rune('0'+k))+".png")
		}
		if opt.Report {
			names = append(names, ReportName(id))
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(FormatCancer(opt.Score.NoisyORLeak)), 0o644); err != nil {
				return rec, nil, err
			}
		}
		rec.Files = append(rec.Files, names...)
		return rec, cs, err
	}
}

// TestRedoneScanDropsItsOldOutputs: a scan redone with other settings
// keeps none of the outputs its earlier done.json listed (the old report
// and pictures would show the old numbers); files it did not list, links
// and names leading out of the scan folder are left alone. An index an
// earlier --report run left is rewritten from the current records by a run
// without --report that redid scans (redone scans unlinked), and left as
// it was by a run that redid none.
func TestRedoneScanDropsItsOldOutputs(t *testing.T) {
	in := fakeScans(t, "p1", "p2")
	out := filepath.Join(t.TempDir(), "out")
	calls := map[string]int{}
	var mu sync.Mutex
	pics := 3
	cfg := fakeConfig(in, out, nil)
	cfg.Scan.Score.NoisyORLeak, cfg.Scan.Report = 0.02, true
	cfg.NewScan = func() ScanFunc { return outputsScan(&cfg.Scan, &pics, calls, &mu) }
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	p1 := filepath.Join(out, "p1")
	index := filepath.Join(out, IndexFile)
	if b, _ := os.ReadFile(index); !bytes.Contains(b, []byte("p1_report.html")) {
		t.Fatalf("first run's index does not link p1's report:\n%s", b)
	}
	// Beside the listed outputs: a file of the user's, and in done.json a
	// link to a file outside, a folder, and names leading out.
	outside := filepath.Join(t.TempDir(), "outside.png")
	mkfile(t, outside, []byte("keep"))
	mkfile(t, filepath.Join(p1, "notes.txt"), []byte("keep"))
	if err := os.Symlink(outside, filepath.Join(p1, "link.png")); err != nil {
		t.Fatal(err)
	}
	mkfile(t, filepath.Join(p1, "sub.png", "x"), []byte("keep"))
	mkfile(t, filepath.Join(out, "p2", "p2_cand09.png"), []byte("keep")) // another scan's folder
	editDone(t, out, "p1", func(m map[string]any) {
		m["files"] = append(m["files"].([]any), "link.png", "sub.png", "../p2/p2_cand09.png", outside)
	})

	// Other settings, fewer pictures, no report: both scans are redone.
	cfg.Scan.Score.NoisyORLeak, cfg.Scan.Report, pics = 0.9, false, 1
	var logs bytes.Buffer
	cfg.Log = testLogger(&logs)
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 {
		t.Fatalf("succeeded %d, want both scans redone", sum.Succeeded)
	}
	for _, id := range []string{"p1", "p2"} {
		dir := filepath.Join(out, id)
		for _, gone := range []string{id + "_cand02.png", id + "_cand03.png", ReportName(id)} {
			if _, err := os.Lstat(filepath.Join(dir, gone)); err == nil {
				t.Errorf("%s: the earlier run's %s is still there", id, gone)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, id+"_cand01.png")); err != nil || string(b) != "0.900000" {
			t.Errorf("%s: new picture %q, %v", id, b, err)
		}
	}
	for _, keep := range []string{outside, filepath.Join(p1, "notes.txt"), filepath.Join(p1, "sub.png", "x"),
		filepath.Join(out, "p2", "p2_cand09.png")} {
		if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
			t.Errorf("%s: %q, %v; want it left alone", keep, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(p1, "link.png")); err != nil {
		t.Errorf("the listed link was removed: %v", err)
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatalf("the earlier index: %v", err)
	}
	if bytes.Contains(b, []byte("_report.html")) || !bytes.Contains(b, []byte("90.0")) || bytes.Contains(b, []byte(">2.0<")) {
		t.Errorf("index not rewritten from the redone scans (0.9, no report links):\n%s", b)
	}
	if !strings.Contains(logs.String(), "rewriting the earlier run's index") {
		t.Errorf("the rewrite is not logged:\n%s", logs.String())
	}

	// Nothing redone: the index stays as it is.
	mkfile(t, index, []byte("left as it was"))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(index, old, old); err != nil {
		t.Fatal(err)
	}
	if sum, err = Run(context.Background(), cfg); err != nil || sum.Skipped != 2 {
		t.Fatalf("rerun: %v, skipped %d", err, sum.Skipped)
	}
	if b, _ := os.ReadFile(index); string(b) != "left as it was" {
		t.Errorf("a run that redid nothing rewrote the index:\n%s", b)
	}
}
