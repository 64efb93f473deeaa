package pipeline

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/testfs"
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

func mkfile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var fakeDICOM = append(make([]byte, 128), []byte("DICMxxxx")...)

func TestListScansLayouts(t *testing.T) {
	root := t.TempDir()
	// Kaggle layout with a stray CSV at the top.
	mkfile(t, filepath.Join(root, "kaggle", "p1", "a"), fakeDICOM)
	mkfile(t, filepath.Join(root, "kaggle", "p2", "b.dcm"), fakeDICOM)
	mkfile(t, filepath.Join(root, "kaggle", "stage1_labels.csv"), []byte("id,cancer\n"))
	got, _, err := ListScans(filepath.Join(root, "kaggle"))
	if err != nil || len(got) != 2 || filepath.Base(got[0]) != "p1" || filepath.Base(got[1]) != "p2" {
		t.Fatalf("kaggle layout: %v %v", got, err)
	}
	// A hidden patient folder (and a hidden scan file) is skipped with a
	// warning naming it; a hidden stray file (.DS_Store) silently.
	mkfile(t, filepath.Join(root, "kaggle", ".c", "a.dcm"), fakeDICOM)
	mkfile(t, filepath.Join(root, "kaggle", ".x.nii.gz"), []byte{0})
	mkfile(t, filepath.Join(root, "kaggle", ".DS_Store"), []byte{0})
	got, warns, err := ListScans(filepath.Join(root, "kaggle"))
	w := strings.Join(warns, "\n")
	if err != nil || len(got) != 2 || len(warns) != 2 || !strings.Contains(w, ".c: hidden") || !strings.Contains(w, ".x.nii.gz: hidden") {
		t.Fatalf("kaggle layout with hidden entries: %v %q %v", got, warns, err)
	}
	// One patient folder with files directly inside.
	got, _, err = ListScans(filepath.Join(root, "kaggle", "p1"))
	if err != nil || len(got) != 1 || filepath.Base(got[0]) != "p1" {
		t.Fatalf("single patient: %v %v", got, err)
	}
	// LUNA16 subset: .mhd files (with .raw beside them) and preprocess outputs.
	mkfile(t, filepath.Join(root, "luna", "1.2.3.mhd"), []byte("NDims = 3\n"))
	mkfile(t, filepath.Join(root, "luna", "1.2.3.raw"), []byte{0})
	mkfile(t, filepath.Join(root, "luna", "x.nii.gz"), []byte{0})
	mkfile(t, filepath.Join(root, "luna", "x_lung.nii.gz"), []byte{0})
	got, _, err = ListScans(filepath.Join(root, "luna"))
	if err != nil || len(got) != 2 || ScanID(got[0]) != "1.2.3" || ScanID(got[1]) != "x" {
		t.Fatalf("luna layout: %v %v", got, err)
	}
	if _, _, err := ListScans(filepath.Join(root, "nope")); err == nil {
		t.Fatal("missing folder accepted")
	}
	testfs.MkdirAll(t, filepath.Join(root, "empty"))
	if _, _, err := ListScans(filepath.Join(root, "empty")); err == nil {
		t.Fatal("empty folder accepted")
	}
}

// fakeScans writes a folder of placeholder .nii.gz scans (fake scan
// functions never read them) and returns it.
func fakeScans(t *testing.T, ids ...string) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in")
	for _, id := range ids {
		mkfile(t, filepath.Join(in, id+".nii.gz"), []byte("placeholder"))
	}
	return in
}

// fakeScan succeeds with one candidate and cancer 0.5, except for ids
// starting with "bad", which fail.
func fakeScan(calls map[string]int, mu *sync.Mutex) ScanFunc {
	return func(_ context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
		mu.Lock()
		calls[ScanID(in)]++
		mu.Unlock()
		if strings.HasPrefix(ScanID(in), "bad") {
			return ScanRecord{}, nil, errors.New(in + ": truncated file")
		}
		return ScanRecord{SeriesUID: "uid-" + ScanID(in), Cancer: 0.5, Scorer: string(ScorerBrock), Seconds: Timings{"detect": 0.25}},
			[]candidate.Candidate{{SeriesUID: "uid-" + ScanID(in), Probability: 0.9, Malignancy: 0.5}}, nil
	}
}

func fakeConfig(in, out string, fn ScanFunc) Config {
	return Config{In: in, Out: out, Workers: 2, FallbackCancer: DefaultFallbackCancer, MaxMemory: 1 << 30,
		NewScan: func() ScanFunc { return fn }}
}

// TestRunRecordsFailuresAndResumes: a failing scan is recorded and the
// others go on; the second run skips complete scans and redoes only the
// failed one; the combined candidates carry each scan's patient_id.
func TestRunRecordsFailuresAndResumes(t *testing.T) {
	in := fakeScans(t, "p1", "bad", "p2")
	out := t.TempDir()
	calls := map[string]int{}
	var mu sync.Mutex
	cfg := fakeConfig(in, out, fakeScan(calls, &mu))
	cfg.Workers = 1
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Succeeded != 2 || sum.Failures[0].ID != "bad" || !strings.Contains(sum.Failures[0].Error, "truncated") {
		t.Fatalf("summary %+v", sum)
	}
	sub, _ := os.ReadFile(filepath.Join(out, "submission.csv"))
	if string(sub) != "id,cancer\nbad,0.260000\np1,0.500000\np2,0.500000\n" {
		t.Fatalf("submission:\n%s", sub)
	}
	cfg.Workers = 2
	if sum, err = Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 2 || sum.Failed != 1 || calls["p1"] != 1 || calls["bad"] != 2 {
		t.Fatalf("resume: %+v calls %v", sum, calls)
	}
	cs, err := candidate.ReadFile(filepath.Join(out, "candidates.csv"))
	if err != nil || len(cs) != 2 || cs[0].PatientID != "p1" || cs[1].PatientID != "p2" {
		t.Fatalf("aggregate candidates %+v %v", cs, err)
	}
	var rec ScanRecord
	if rec, err = ReadDone(filepath.Join(out, "p1")); err != nil || rec.ToolVersion == "" {
		t.Errorf("done.json %+v %v: want a tool_version", rec, err)
	}
	if _, err := os.Stat(filepath.Join(out, LockFile)); err == nil {
		t.Error("lock file left after a finished run")
	}
}

// TestRunLabelsMatchingNothing: labels whose ids match no scan give a
// summary with no log_loss (never a NaN, which JSON cannot hold), labelled
// 0 and a note, instead of failing at the end and keeping a stale summary.
func TestRunLabelsMatchingNothing(t *testing.T) {
	in := fakeScans(t, "p1", "p2")
	out := t.TempDir()
	labels := filepath.Join(t.TempDir(), "labels.csv")
	mkfile(t, labels, []byte("id,cancer\nother1,1\nother2,0\n"))
	mkfile(t, filepath.Join(out, "summary.json"), []byte(`{"stale": true}`))
	var mu sync.Mutex
	cfg := fakeConfig(in, out, fakeScan(map[string]int{}, &mu))
	cfg.Labels = labels
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	s := string(b)
	if strings.Contains(s, "stale") || strings.Contains(s, "NaN") || strings.Contains(s, `"log_loss"`) ||
		!strings.Contains(s, `"labelled": 0`) || !strings.Contains(s, "none of the 2 scans has a label") {
		t.Errorf("summary.json:\n%s", s)
	}
	if sum.LogLoss != nil {
		t.Errorf("log loss %v with no labelled scan", *sum.LogLoss)
	}
	// With matching labels the loss is there.
	mkfile(t, labels, []byte("id,cancer\np1,1\np2,0\n"))
	if sum, err = Run(context.Background(), cfg); err != nil || sum.LogLoss == nil || *sum.Labelled != 2 {
		t.Fatalf("labelled run: %+v %v", sum, err)
	}
}

// TestRunInterruptedKeepsAggregates: a --force run cancelled mid-way (as
// Ctrl-C does) must not rewrite submission.csv with the fallback over the
// previous run's probabilities: every aggregate file stays as it was.
func TestRunInterruptedKeepsAggregates(t *testing.T) {
	in := fakeScans(t, "p1", "p2", "p3")
	out := t.TempDir()
	var mu sync.Mutex
	cfg := fakeConfig(in, out, fakeScan(map[string]int{}, &mu))
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, f := range []string{"submission.csv", "candidates.csv", "failures.csv", "summary.json"} {
		before[f], _ = os.ReadFile(filepath.Join(out, f))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Force, cfg.Workers = true, 1
	cfg.NewScan = func() ScanFunc {
		return func(ctx context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
			if ScanID(in) == "p2" {
				cancel() // Ctrl-C while p2 runs
				<-ctx.Done()
				return ScanRecord{}, nil, ctx.Err()
			}
			return ScanRecord{Cancer: 0.9, Scorer: string(ScorerBrock)}, nil, nil
		}
	}
	_, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v, want ErrInterrupted", err)
	}
	for f, b := range before {
		if now, _ := os.ReadFile(filepath.Join(out, f)); !bytes.Equal(now, b) {
			t.Errorf("interrupted run rewrote %s:\n%s\nwas:\n%s", f, now, b)
		}
	}
}

// TestRunCleansTempsAndLocks: temporaries and the lock a killed run left
// are cleaned and taken over; a second run on the same folder while one
// runs is refused with ErrBusy.
func TestRunCleansTempsAndLocks(t *testing.T) {
	in := fakeScans(t, "p1")
	out := t.TempDir()
	temps := []string{filepath.Join(out, ".submission.csv.tmp-123"), filepath.Join(out, "p1", ".done.json.tmp-9")}
	for _, p := range temps {
		mkfile(t, p, []byte("half"))
	}
	// A lock a killed run left: its PID is this test's parent's, which
	// never held it (no flock), so it is stale.
	mkfile(t, filepath.Join(out, LockFile), []byte(`{"pid": 1, "host": "elsewhere", "started": "2026-01-01T00:00:00Z"}`))
	var mu sync.Mutex
	started, finish := make(chan struct{}), make(chan struct{})
	cfg := fakeConfig(in, out, nil)
	cfg.NewScan = func() ScanFunc {
		return func(ctx context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
			close(started)
			<-finish
			return fakeScan(map[string]int{}, &mu)(ctx, in, dir)
		}
	}
	var logs bytes.Buffer
	cfg.Log = testLogger(&logs)
	errc := make(chan error, 1)
	go func() { _, err := Run(context.Background(), cfg); errc <- err }()
	<-started
	second := fakeConfig(in, out, fakeScan(map[string]int{}, &mu))
	if _, err := Run(context.Background(), second); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("second run on the same folder: %v, want ErrBusy naming the holder", err)
	}
	close(finish)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale temporary %s not cleaned", p)
		}
	}
	if !strings.Contains(logs.String(), "took over the lock") {
		t.Errorf("stale lock not reported:\n%s", logs.String())
	}
}

func TestRunRefusesOutIsIn(t *testing.T) {
	in := fakeScans(t, "p1")
	var mu sync.Mutex
	if _, err := Run(context.Background(), fakeConfig(in, in, fakeScan(map[string]int{}, &mu))); !errors.Is(err, ErrUsage) {
		t.Errorf("-o equal to the input: %v, want ErrUsage", err)
	}
}

// TestRunWorkersShareTheBudget: -j 4 on a budget of 2 runs two scans at a
// time (each running scan holds one of par's slots), and no more.
func TestRunWorkersShareTheBudget(t *testing.T) {
	old := par.Limit()
	par.SetLimit(2)
	defer par.SetLimit(old)
	in := fakeScans(t, "a", "b", "c", "d", "e", "f")
	var now, peak atomic.Int32
	cfg := fakeConfig(in, t.TempDir(), func(context.Context, string, string) (ScanRecord, []candidate.Candidate, error) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		return ScanRecord{}, nil, nil
	})
	cfg.Workers = 4
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak %d scans at once with -j 4 on a budget of 2, want 2", p)
	}
}
