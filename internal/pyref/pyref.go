// Package pyref is the one way lungctl's tests reach the independent Python
// references (pydicom, nibabel, numpy, scipy, scikit-learn, scikit-image,
// PyTorch) that cross-check its results.
//
// The interpreter is Debian's /usr/bin/python3, where ../shared/peers/INSTALL.sh
// puts those modules (a different python3 may come first on PATH; override
// with LUNGCTL_PYTHON). When the interpreter or a module is missing the test
// is skipped with a message naming what to install, except when the
// environment sets LUNGCTL_REQUIRE_PEERS=1 (as .ci/run does after installing
// them): then a missing reference fails the test, so CI cannot go green by
// skipping every cross-check.
package pyref

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Interpreter is the Python used for the cross-checks.
func Interpreter() string {
	if p := os.Getenv("LUNGCTL_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// Python returns the interpreter after checking that it imports every
// module in modules (e.g. "pydicom", "numpy"); otherwise it skips tb, or
// fails it under LUNGCTL_REQUIRE_PEERS=1.
func Python(tb testing.TB, modules ...string) string {
	tb.Helper()
	py := Interpreter()
	stmt := "pass"
	if len(modules) > 0 {
		stmt = "import " + strings.Join(modules, ", ")
	}
	out, err := exec.Command(py, "-c", stmt).CombinedOutput()
	if err != nil {
		msg := py + " with " + strings.Join(modules, ", ") + " is not available (Debian: ../shared/peers/INSTALL.sh): " +
			strings.TrimSpace(lastLine(out)) + " " + err.Error()
		if os.Getenv("LUNGCTL_REQUIRE_PEERS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return py
}

// Run runs the interpreter with args (after checking modules as Python
// does) and returns its standard output; a non-zero exit fails tb with the
// script's standard error.
func Run(tb testing.TB, modules []string, args ...string) []byte {
	tb.Helper()
	py := Python(tb, modules...)
	cmd := exec.Command(py, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", py, strings.Join(shorten(args), " "), err, stderr.String())
	}
	return out
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// shorten keeps error messages readable when an argument is a whole script.
func shorten(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 60 {
			a = a[:57] + "..."
		}
		out[i] = strings.ReplaceAll(a, "\n", " ")
	}
	return out
}
