package main

// Integration tests of the lungctl binary: TestMain builds it once into a
// temporary folder and the tests exec it like a user would, checking exit
// codes, output files and messages.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/shareddata"
)

// lungctlBin is the path of the binary built by TestMain.
var lungctlBin string

// testVersion is the version the test binary is built with, which every
// provenance file must record.
const testVersion = "test-1.2.3"

// testTmp is TestMain's scratch folder (shared fixtures), removed at exit.
var testTmp string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lungctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lungctl test: temp dir:", err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "lungctl test: remove temp dir:", err)
		}
	}()
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			goTool = p
		}
	}
	testTmp = dir
	lungctlBin = filepath.Join(dir, "lungctl")
	// The test hooks (testhooks_on.go) let tests make a scan crash.
	build := exec.Command(goTool, "build", "-tags", "lungctl_testhooks", "-ldflags", "-X main.version="+testVersion,
		"-o", lungctlBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "lungctl test: go build failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// wantUsageRefusal runs lungctl args -o <fresh folder> and checks that it
// is refused as a usage error (exit 2) naming want, before creating the
// output folder.
func wantUsageRefusal(t *testing.T, want string, args ...string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args = append(args[:len(args):len(args)], "-o", out)
	r := lungctl(t, args...)
	if r.code != exitUsage || !strings.Contains(r.stderr, want) {
		t.Errorf("lungctl %s: exit %d, want 2 naming %s:\n%s", strings.Join(args, " "), r.code, want, r.stderr)
	}
	if fileExists(out) {
		t.Errorf("lungctl %s: created %s before refusing", strings.Join(args, " "), out)
	}
}

// result is what one execution of the binary produced.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// lungctl runs the built binary with args in the package folder and returns
// its exit code and output; it fails the test only when the binary could not
// be started at all.
func lungctl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(lungctlBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("lungctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// subcommandNames reads the "Available Commands" section of the root help.
func subcommandNames(help string) []string {
	var names []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			in = false
		case in:
			names = append(names, strings.Fields(line)[0])
		}
	}
	return names
}

func TestHelpHasExamples(t *testing.T) {
	r := lungctl(t, "--help")
	if r.code != exitOK {
		t.Fatalf("lungctl --help: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Example") {
		t.Errorf("lungctl --help has no Examples section:\n%s", r.stdout)
	}
	names := subcommandNames(r.stdout)
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, want := range []string{"preprocess", "detect", "classify", "run", "eval", "phantom"} {
		if !have[want] {
			t.Errorf("root help does not list subcommand %q (listed: %v)", want, names)
		}
	}
	for _, n := range names {
		if n == "help" || n == "completion" { // cobra's own
			continue
		}
		r := lungctl(t, n, "--help")
		if r.code != exitOK {
			t.Errorf("lungctl %s --help: exit %d, stderr:\n%s", n, r.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stdout, "Example") {
			t.Errorf("lungctl %s --help has no Examples section:\n%s", n, r.stdout)
		}
		if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "lungctl "+n) {
			t.Errorf("lungctl %s --help does not show its usage line:\n%s", n, r.stdout)
		}
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"run", "--no-such-flag", "in", "-o", t.TempDir()},
		{"preprocess", "--no-such-flag", "in"},
	} {
		r := lungctl(t, args...)
		if r.code != exitUsage {
			t.Errorf("lungctl %s: exit %d, want %d (usage); stderr:\n%s", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "unknown flag") || !strings.Contains(r.stderr, "--no-such-flag") {
			t.Errorf("lungctl %s: stderr does not name the unknown flag:\n%s", strings.Join(args, " "), r.stderr)
		}
	}
	// A missing required argument is a usage error too.
	if r := lungctl(t, "run", t.TempDir()); r.code != exitUsage {
		t.Errorf("lungctl run without -o: exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
	}
}

func TestPreprocessMissingInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-scan")
	out := filepath.Join(dir, "out")
	r := lungctl(t, "preprocess", missing, "-o", out)
	if r.code != exitFailure {
		t.Fatalf("lungctl preprocess %s: exit %d, want %d; stderr:\n%s", missing, r.code, exitFailure, r.stderr)
	}
	if !strings.Contains(r.stderr, missing) {
		t.Errorf("stderr does not name the missing path %s:\n%s", missing, r.stderr)
	}
	// Nothing with a final name may be written for a failed scan.
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("failed preprocess left %s in the output folder", e.Name())
	}
}

func TestEvalTruthAgainstItselfIsPerfect(t *testing.T) {
	truth := shareddata.Path("lidc-idri-0001", "truth_luna16_annotations.csv")
	if _, err := os.Stat(truth); err != nil {
		t.Skipf("LIDC-IDRI truth file absent (%v)", err)
	}
	out := t.TempDir()
	r := lungctl(t, "eval", "--annotations", truth, truth, "-o", out)
	if r.code != exitOK {
		t.Fatalf("lungctl eval: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^CPM ([0-9.]+)\s*$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no CPM line in eval output:\n%s", r.stdout)
	}
	if cpm, err := strconv.ParseFloat(m[1], 64); err != nil || cpm != 1 {
		t.Errorf("annotations scored against themselves: CPM %s, want 1\n%s", m[1], r.stdout)
	}
	for _, f := range []string{"froc.png", "truth_luna16_annotations_froc.json"} {
		if !fileExists(filepath.Join(out, f)) {
			t.Errorf("eval did not write %s", f)
		}
	}
}
