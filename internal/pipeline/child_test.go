package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/testfs"
)

// childEnv makes this test binary act as a scan process (see TestMain).
const childEnv = "LUNGCTL_PIPELINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(testChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testChild is a scan process whose behaviour follows the scan id's prefix:
// ok (logs a JSON line, succeeds), err (fails), fatal (Go runtime fatal
// error: stack overflow), exit2 (os.Exit(2)), kill (SIGKILL itself), panic
// (a panic in a goroutine, which nothing can recover), oom (allocates past
// its address-space limit), slow (sleeps until killed).
func testChild(args []string) int {
	if len(args) < 3 || args[len(args)-3] != "--" {
		fmt.Fprintln(os.Stderr, "want -- INPUT DIR")
		return 64
	}
	input, dir := args[len(args)-2], args[len(args)-1]
	fn := func(ctx context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
		id := ScanID(in)
		switch {
		case strings.HasPrefix(id, "ok"):
			var as syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
				return ScanRecord{}, nil, err
			}
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("hello from the scan", "n", 3,
				"mem", os.Getenv(MaxMemoryEnv), "procs", runtime.GOMAXPROCS(0), "as", fmt.Sprint(as.Cur))
			fmt.Fprintln(os.Stderr, "a plain line\x1b[31m")
			return ScanRecord{Cancer: 0.4, Scorer: string(ScorerBrock)}, []candidate.Candidate{{SeriesUID: id, Probability: 0.7}}, nil
		case strings.HasPrefix(id, "err"):
			return ScanRecord{}, nil, errors.New(in + ": cannot read this")
		case strings.HasPrefix(id, "fatal"):
			debug.SetMaxStack(1 << 16)
			recurse(0)
		case strings.HasPrefix(id, "exit2"):
			os.Exit(2)
		case strings.HasPrefix(id, "kill"):
			if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
				return ScanRecord{}, nil, err
			}
			time.Sleep(time.Minute)
		case strings.HasPrefix(id, "panic"):
			go func() { panic("boom in a goroutine") }()
			time.Sleep(time.Minute)
		case strings.HasPrefix(id, "oom"):
			var keep [][]byte
			for {
				// Deliberate: hold every block until the address-space
				// limit makes the runtime fail with "out of memory".
				//lint:ignore SA4010 the appends keep the blocks reachable until the process runs out of memory
				keep = append(keep, make([]byte, 256<<20)) //nolint:staticcheck // SA4010: deliberate, the test's out-of-memory scan
			}
		case strings.HasPrefix(id, "slow"):
			time.Sleep(time.Minute)
		case strings.HasPrefix(id, "sigint"):
			if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
				return ScanRecord{}, nil, err
			}
			time.Sleep(time.Minute)
		}
		return ScanRecord{}, nil, errors.New("unknown test scan " + id)
	}
	if err := ServeChild(context.Background(), fn, input, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// recurse never returns: the "fatal" test scan's stack overflow.
//
//go:noinline
func recurse(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	//lint:ignore SA5007 deliberate infinite recursion: the test's stack overflow
	return recurse(n+1) + int(pad[0]) //nolint:staticcheck // SA5007: deliberate infinite recursion, the test's stack overflow
}

func isolatedConfig(t testing.TB, in, out string, logs *bytes.Buffer) Config {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fakeConfig(in, out, nil)
	cfg.Isolate, cfg.Child = true, Child{Path: exe, Env: []string{childEnv + "=1"}}
	cfg.Log = testLogger(logs)
	return cfg
}

// TestIsolatedCrashesAreFailures: whatever kills a scan process — a Go
// runtime fatal error, os.Exit(2), SIGKILL, an unrecoverable panic, running
// out of its address space — becomes that scan's failures.csv row with the
// reason, and the batch writes its aggregates. The scan process's stderr
// reaches the log with the scan's id.
func TestIsolatedCrashesAreFailures(t *testing.T) {
	in := fakeScans(t, "ok1", "err1", "fatal1", "exit2", "kill1", "panic1", "oom1", "ok2")
	out := t.TempDir()
	var logs bytes.Buffer
	cfg := isolatedConfig(t, in, out, &logs)
	cfg.MaxMemory = 512 << 20 // 2 workers: 256 MiB each, address space 2.25 GiB
	old := par.Limit()
	par.SetLimit(2) // whatever the machine: 2 scans at once, 1 thread each
	defer par.SetLimit(old)
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 || sum.Failed != 6 {
		t.Fatalf("succeeded %d failed %d, want 2 and 6: %+v", sum.Succeeded, sum.Failed, sum.Failures)
	}
	want := map[string][]string{
		"err1":   {"cannot read this"},
		"fatal1": {"scan process crashed", "fatal error: stack overflow"},
		"exit2":  {"scan process crashed", "exited with status 2"},
		"kill1":  {"scan process crashed", "killed by SIGKILL", "--max-memory"},
		"panic1": {"scan process crashed", "panic: boom in a goroutine"},
		"oom1":   {"scan process crashed", "out of memory", "256.0 MiB"},
	}
	for _, f := range sum.Failures {
		for _, w := range want[f.ID] {
			if !strings.Contains(f.Error, w) {
				t.Errorf("%s: error %q lacks %q", f.ID, f.Error, w)
			}
		}
		if !strings.Contains(f.Error, f.ID) {
			t.Errorf("%s: error %q does not name the input", f.ID, f.Error)
		}
	}
	for _, f := range []string{"submission.csv", "failures.csv", "candidates.csv", "summary.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("aggregate %s missing: %v", f, err)
		}
	}
	cs, _ := candidate.ReadFile(filepath.Join(out, "candidates.csv"))
	if len(cs) != 2 || cs[0].PatientID != "ok1" {
		t.Errorf("combined candidates %+v", cs)
	}
	// Forwarded lines: the JSON one with its attributes, the plain one
	// escaped by the JSON handler, both with the scan id.
	var found, plain bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		// 2 scans at once share par's budget of 2: one thread each.
		procs := 1.0
		if m["msg"] == "hello from the scan" && m["scan"] == "ok1" && m["n"] == 3.0 && m["mem"] == "268435456" &&
			m["procs"] == procs && m["as"] == fmt.Sprint(uint64(268435456+addressSlack)) {
			found = true
		}
		if m["msg"] == "scan process output" && m["scan"] == "ok2" && m["line"] == "a plain line\x1b[31m" {
			plain = true
		}
	}
	if !found || !plain {
		t.Errorf("scan process lines not forwarded with the scan id (json %v, plain %v):\n%s", found, plain, logs.String())
	}
}

// TestIsolatedNoAddressLimit: Config.NoAddressLimit leaves the scan
// process's address space as it was (for GPU drivers), the budget still set.
func TestIsolatedNoAddressLimit(t *testing.T) {
	in := fakeScans(t, "ok1")
	var logs bytes.Buffer
	cfg := isolatedConfig(t, in, t.TempDir(), &logs)
	cfg.NoAddressLimit = true
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var parent syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &parent); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"as":"`+fmt.Sprint(parent.Cur)+`"`) || !strings.Contains(logs.String(), `"mem":"`) {
		t.Errorf("address space capped despite NoAddressLimit:\n%s", logs.String())
	}
}

// TestIsolatedInterrupt: cancelling the run stops the running scan process
// (SIGTERM), writes no aggregates and leaves no process behind.
func TestIsolatedInterrupt(t *testing.T) {
	in := fakeScans(t, "slow1")
	out := t.TempDir()
	var logs bytes.Buffer
	cfg := isolatedConfig(t, in, out, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the scan process outlived the cancellation by %v", d)
	}
	if _, err := os.Stat(filepath.Join(out, "submission.csv")); err == nil {
		t.Error("interrupted run wrote submission.csv")
	}
}

// TestIsolatedCtrlCReachingTheScanFirst: Ctrl-C goes to the terminal's
// whole process group, so a scan process may die of SIGINT before run's own
// handler cancels the batch; that scan has no outcome (not a failure with
// the fallback), so no aggregate is written even when it was the last one.
func TestIsolatedCtrlCReachingTheScanFirst(t *testing.T) {
	in := fakeScans(t, "ok1", "sigint1")
	out := t.TempDir()
	var logs bytes.Buffer
	cfg := isolatedConfig(t, in, out, &logs)
	cfg.Workers = 1
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	if _, err := os.Stat(filepath.Join(out, "submission.csv")); err == nil {
		t.Error("submission.csv written with a scan stopped by SIGINT")
	}
}

// BenchmarkScanOverhead measures what crash isolation costs per scan: the
// same trivial scan in-process and in its own process (start, report,
// reading the outputs back).
func BenchmarkScanOverhead(b *testing.B) {
	const n = 4
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ok%d", i)
	}
	for _, isolate := range []bool{false, true} {
		b.Run(fmt.Sprintf("isolate=%v", isolate), func(b *testing.B) {
			in := filepath.Join(b.TempDir(), "in")
			for _, id := range ids {
				testfs.MkdirAll(b, in)
				testfs.WriteFile(b, filepath.Join(in, id+".nii.gz"), []byte("x"))
			}
			var logs bytes.Buffer
			cfg := isolatedConfig(b, in, b.TempDir(), &logs)
			cfg.Isolate, cfg.Force, cfg.Workers = isolate, true, 1
			cfg.NewScan = func() ScanFunc {
				return func(context.Context, string, string) (ScanRecord, []candidate.Candidate, error) {
					return ScanRecord{Cancer: 0.4, Scorer: string(ScorerBrock)}, []candidate.Candidate{{Probability: 0.7}}, nil
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logs.Reset()
				if _, err := Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n), "ms/scan")
		})
	}
}
