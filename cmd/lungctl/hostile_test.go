package main

// Hostile inputs against the lungctl binary, each made by the test itself:
// crashing scans, two runs on one folder, Ctrl-C mid-run, symlink farms and
// FIFOs, an input named "...nii.gz", bad flag values, control characters in
// names and headers.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  string
)

// phantomFixture returns a folder holding PHANTOM-1 and PHANTOM-2 (small
// DICOM phantoms), written once per test binary; tests only read it.
func phantomFixture(t *testing.T) string {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir = filepath.Join(testTmp, "phantoms")
		if r := lungctl(t, "phantom", "-o", fixtureDir, "--count", "2", "--size", "small", "--seed", "1"); r.code != 0 {
			fixtureErr = r.stderr
		}
	})
	if fixtureErr != "" {
		t.Fatalf("phantom fixture: %s", fixtureErr)
	}
	return fixtureDir
}

// linkPatients makes a fresh input folder whose patient folders are
// symbolic links to the fixture's.
func linkPatients(t *testing.T, ids ...string) string {
	t.Helper()
	fx := phantomFixture(t)
	in := filepath.Join(t.TempDir(), "stage1")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := os.Symlink(filepath.Join(fx, id), filepath.Join(in, id)); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// lungctlCmd is an unstarted lungctl command with extra environment.
func lungctlCmd(env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(lungctlBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	return cmd, &so, &se
}

// lungctlEnv is lungctl with extra environment and a 3-minute limit.
func lungctlEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd, so, se := lungctlCmd(env, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("lungctl %s: still running after 3 minutes (%s)\n%s", strings.Join(args, " "), killAndWait(cmd, done), se.String())
	}
	r := result{stdout: so.String(), stderr: se.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func mkjunk(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.dcm"), []byte("not DICOM"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunCrashIsolation: a Go runtime fatal error, os.Exit(2), SIGKILL (what
// the OOM killer does), a goroutine panic and running out of the memory
// budget each fail one scan, as one failures.csv row with the reason; the
// good scan completes, the aggregates are written and the exit status is 3.
// With --isolate=false the same fatal error ends the process, but never with
// the usage status 2.
func TestRunCrashIsolation(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	crashes := map[string][]string{
		"X-fatal": {"fatal error: stack overflow"}, "X-exit2": {"exited with status 2"},
		"X-kill": {"killed by SIGKILL", "--max-memory"}, "X-panic": {"panic: test hook"},
		"X-oom": {"out of memory", "256.0 MiB"},
	}
	var env []string
	for id := range crashes {
		mkjunk(t, filepath.Join(in, id))
		env = append(env, id+"="+strings.TrimPrefix(id, "X-"))
	}
	hook := "LUNGCTL_TEST_CRASH=" + strings.Join(env, ",")
	out := filepath.Join(t.TempDir(), "out")
	r := lungctlEnv(t, []string{hook}, runCmd(in, out, "-j", "2", "--threads", "2", "--max-memory", "512MiB")...)
	checkExit(t, r, exitPartial, "run with crashing scans")
	frecs := readCSV(t, filepath.Join(out, "failures.csv"))
	if len(frecs) != 1+len(crashes) {
		t.Fatalf("failures.csv has %d rows, want %d:\n%v", len(frecs)-1, len(crashes), frecs)
	}
	for _, rec := range frecs[1:] {
		for _, w := range append(crashes[rec[0]], "scan process crashed", rec[0]) {
			if !strings.Contains(rec[2], w) {
				t.Errorf("%s: error %q lacks %q", rec[0], rec[2], w)
			}
		}
	}
	if sub := readCSV(t, filepath.Join(out, "submission.csv")); len(sub) != 2+len(crashes) {
		t.Errorf("submission.csv has %d rows, want %d", len(sub)-1, 1+len(crashes))
	}
	if !fileExists(filepath.Join(out, "PHANTOM-1", "done.json")) || !fileExists(filepath.Join(out, "summary.json")) {
		t.Error("the good scan or summary.json is missing")
	}

	in2 := filepath.Join(t.TempDir(), "in")
	mkjunk(t, filepath.Join(in2, "X-fatal"))
	r = lungctlEnv(t, []string{"LUNGCTL_TEST_CRASH=X-fatal=fatal"}, runCmd(in2, filepath.Join(t.TempDir(), "o"), "--isolate=false")...)
	if r.code == exitUsage || r.code == exitOK {
		t.Errorf("in-process fatal error: exit %d (must be neither 0 nor the usage status 2)\n%.2000s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "fatal error: stack overflow") {
		t.Errorf("in-process fatal error not reported:\n%.2000s", r.stderr)
	}
}

// TestRunSecondRunOnSameOut: a run on a folder another run is writing exits
// 1 naming the holder; the first run is not disturbed.
func TestRunSecondRunOnSameOut(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	out := filepath.Join(t.TempDir(), "out")
	first, _, se := lungctlCmd([]string{"LUNGCTL_TEST_CRASH=PHANTOM-1=sleep"}, runCmd(in, out)...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	deadline := time.After(time.Minute)
	for !fileExists(filepath.Join(out, ".lungctl.lock")) {
		select {
		case err := <-exited:
			t.Fatalf("first run ended (%v) before taking its lock:\n%s", err, se.String())
		case <-deadline:
			t.Fatalf("first run took no lock in a minute (%s)", killAndWait(first, exited))
		case <-time.After(10 * time.Millisecond):
		}
	}
	r := lungctl(t, runCmd(in, out)...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "in use by another lungctl run") ||
		!strings.Contains(r.stderr, "pid "+strconv.Itoa(first.Process.Pid)) {
		t.Errorf("second run: exit %d, want 1 naming pid %d:\n%s", r.code, first.Process.Pid, r.stderr)
	}
	if err := <-exited; err != nil {
		t.Errorf("first run: %v\n%s", err, se.String())
	}
}

// TestRunInterruptKeepsSubmission: Ctrl-C (SIGINT) during 'run --force'
// must not rewrite submission.csv with the fallback over the correct
// probabilities of the previous run.
func TestRunInterruptKeepsSubmission(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1", "PHANTOM-2")
	out := filepath.Join(t.TempDir(), "out")
	r0 := lungctl(t, runCmd(in, out)...)
	checkExit(t, r0, exitOK, "first run")
	before := map[string][]byte{}
	for _, f := range []string{"submission.csv", "candidates.csv", "summary.json", "failures.csv"} {
		before[f], _ = os.ReadFile(filepath.Join(out, f))
	}
	done1 := filepath.Join(out, "PHANTOM-1", "done.json")
	st0, _ := os.Stat(done1)
	cmd, _, se := lungctlCmd([]string{"LUNGCTL_TEST_CRASH=PHANTOM-2=sleep"}, runCmd(in, out, "--force", "-j", "1")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(done1); err == nil && !st.ModTime().Equal(st0.ModTime()) {
			break // PHANTOM-1 redone; PHANTOM-2 is sleeping in its hook
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(se.String(), "interrupted") {
		t.Errorf("interrupted run: %v, want exit 1 and 'interrupted'\n%s", err, se.String())
	}
	for f, b := range before {
		if now, _ := os.ReadFile(filepath.Join(out, f)); !bytes.Equal(now, b) {
			t.Errorf("Ctrl-C rewrote %s:\n%s\nwas:\n%s", f, now, b)
		}
	}
	// The next run completes the batch.
	checkExit(t, lungctl(t, runCmd(in, out)...), exitOK, "resumed run")
}
