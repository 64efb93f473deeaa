package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/warn"
	"github.com/spf13/cobra"
)

// Every numeric flag has a documented valid range (in its help text); a
// value outside it, NaN included, is a usage error (exit 2) before any work.

// checkFloat refuses v outside [lo, hi] (and NaN).
func checkFloat(name string, v, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return usagef("--%s %v: want a number from %g to %g", name, v, lo, hi)
	}
	return nil
}

// checkInt refuses v outside [lo, hi].
func checkInt(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return usagef("--%s %d: want an integer from %d to %d", name, v, lo, hi)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

var shardRE = regexp.MustCompile(`^([0-9]{1,6})/([0-9]{1,6})$`)

// parseShard reads --shard i/n (1 <= i <= n); "" means no sharding.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	m := shardRE.FindStringSubmatch(s)
	if m != nil {
		i, _ = strconv.Atoi(m[1])
		n, _ = strconv.Atoi(m[2])
	}
	if m == nil || i < 1 || i > n {
		return 0, 0, usagef("--shard wants i/n with 1 <= i <= n <= 999999, e.g. 2/8, not %q", s)
	}
	return i, n, nil
}

// stdoutPath is the -o value that means standard output.
const stdoutPath = "-"

// folderOut refuses "-" (and an empty value) for a flag that names a
// folder.
func folderOut(cmdName, flag, path string) error {
	switch path {
	case "":
		return usagef("%s: %s OUTDIR is required", cmdName, flag)
	case stdoutPath:
		return usagef("%s: %s - (standard output) is for single files; %s writes a folder", cmdName, flag, cmdName)
	}
	return nil
}

// writeOut writes one output file: to standard output when path is "-",
// else atomically (see atomicfile), creating its folder.
func writeOut(cmd *cobra.Command, path string, write func(io.Writer) error) error {
	if path == stdoutPath {
		bw := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	if err := mkdirOut(filepath.Dir(path)); err != nil {
		return err
	}
	return atomicfile.Write(path, write)
}

func mkdirOut(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	return nil
}

// logWarnings logs a scan's loader warnings, folding the routine skipped
// non-DICOM files (CSV, XML, notes beside the images; warn.SkippedNotDICOM)
// into one line; the provenance JSON lists them (many as one, warn.Fold).
func logWarnings(input string, ws []warn.Warning) {
	var skipped []string
	count := 0
	for _, w := range ws {
		if w.Code == warn.SkippedNotDICOM {
			skipped = append(skipped, w.File)
			count += w.N()
			continue
		}
		logger.Warn(w.String(), "input", input, "code", string(w.Code))
	}
	if len(skipped) > 0 {
		logger.Info("skipped non-DICOM files", "input", input, "count", count, "first", skipped[0])
	}
}
