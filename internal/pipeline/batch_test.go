package pipeline

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
)

func TestShardCoversInputsOnce(t *testing.T) {
	in := []string{"a", "b", "c", "d", "e", "f", "g"}
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		s, err := Shard(in, i, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			seen[x]++
		}
	}
	for _, x := range in {
		if seen[x] != 1 {
			t.Errorf("%s in %d shards", x, seen[x])
		}
	}
	if _, err := Shard(in, 4, 3); err == nil {
		t.Error("shard 4/3 accepted")
	}
}

func TestLogLossHandComputed(t *testing.T) {
	pred := map[string]float64{"a": 0.9, "b": 0.2, "c": 0.5, "x": 0.7}
	lab := map[string]float64{"a": 1, "b": 0, "c": 1}
	got, n := LogLoss(pred, lab)
	want := -(math.Log(0.9) + math.Log(0.8) + math.Log(0.5)) / 3
	if n != 3 || math.Abs(got-want) > 1e-12 {
		t.Fatalf("log loss %v (n=%d), want %v", got, n, want)
	}
	// A confident wrong answer is clipped, not infinite.
	got, _ = LogLoss(map[string]float64{"a": 0}, map[string]float64{"a": 1})
	if math.IsInf(got, 0) || math.Abs(got-(-math.Log(1e-15))) > 1e-9 {
		t.Fatalf("clipped loss %v", got)
	}
}

func TestListScansLayouts(t *testing.T) {
	root := t.TempDir()
	mk := func(p string, b []byte) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dicom := append(make([]byte, 128), []byte("DICMxxxx")...)
	// Kaggle layout with a stray CSV at the top.
	mk(filepath.Join(root, "kaggle", "p1", "a"), dicom)
	mk(filepath.Join(root, "kaggle", "p2", "b.dcm"), dicom)
	mk(filepath.Join(root, "kaggle", "stage1_labels.csv"), []byte("id,cancer\n"))
	got, err := ListScans(filepath.Join(root, "kaggle"))
	if err != nil || len(got) != 2 || filepath.Base(got[0]) != "p1" || filepath.Base(got[1]) != "p2" {
		t.Fatalf("kaggle layout: %v %v", got, err)
	}
	// One patient folder with files directly inside.
	got, err = ListScans(filepath.Join(root, "kaggle", "p1"))
	if err != nil || len(got) != 1 || filepath.Base(got[0]) != "p1" {
		t.Fatalf("single patient: %v %v", got, err)
	}
	// LUNA16 subset: .mhd files (with .raw beside them) and preprocess outputs.
	mk(filepath.Join(root, "luna", "1.2.3.mhd"), []byte("NDims = 3\n"))
	mk(filepath.Join(root, "luna", "1.2.3.raw"), []byte{0})
	mk(filepath.Join(root, "luna", "x.nii.gz"), []byte{0})
	mk(filepath.Join(root, "luna", "x_lung.nii.gz"), []byte{0})
	got, err = ListScans(filepath.Join(root, "luna"))
	if err != nil || len(got) != 2 || ScanID(got[0]) != "1.2.3" || ScanID(got[1]) != "x" {
		t.Fatalf("luna layout: %v %v", got, err)
	}
	if _, err := ListScans(filepath.Join(root, "nope")); err == nil {
		t.Fatal("missing folder accepted")
	}
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	if _, err := ListScans(filepath.Join(root, "empty")); err == nil {
		t.Fatal("empty folder accepted")
	}
}

// TestRunBatchRecordsFailuresAndResumes uses a fake per-scan function: a
// failing scan is recorded and the others go on; the second run skips
// complete scans and redoes only the failed one.
func TestRunBatchRecordsFailuresAndResumes(t *testing.T) {
	out := t.TempDir()
	inputs := []string{"/in/p1", "/in/bad", "/in/p2"}
	calls := map[string]int{}
	fn := func(_ context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
		calls[ScanID(in)]++
		if strings.HasSuffix(in, "bad") {
			return ScanRecord{}, nil, errors.New("bad: truncated file")
		}
		return ScanRecord{ID: ScanID(in), SeriesUID: "uid-" + ScanID(in), Cancer: 0.5},
			[]candidate.Candidate{{SeriesUID: "uid-" + ScanID(in), Probability: 0.9, Malignancy: 0.5}}, nil
	}
	sum, err := RunBatch(context.Background(), inputs, out, fn, BatchOptions{Workers: 1, FallbackCancer: DefaultFallbackCancer})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Succeeded != 2 || sum.Failures[0].ID != "bad" || !strings.Contains(sum.Failures[0].Error, "truncated") {
		t.Fatalf("summary %+v", sum)
	}
	sub, _ := os.ReadFile(filepath.Join(out, "submission.csv"))
	if string(sub) != "id,cancer\np1,0.500000\nbad,0.260000\np2,0.500000\n" {
		t.Fatalf("submission:\n%s", sub)
	}
	sum, err = RunBatch(context.Background(), inputs, out, fn, BatchOptions{Workers: 2, FallbackCancer: DefaultFallbackCancer})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 2 || sum.Failed != 1 || calls["p1"] != 1 || calls["bad"] != 2 {
		t.Fatalf("resume: %+v calls %v", sum, calls)
	}
	cs, err := candidate.ReadFile(filepath.Join(out, "candidates.csv"))
	if err != nil || len(cs) != 2 {
		t.Fatalf("aggregate candidates %v %v", cs, err)
	}
}
