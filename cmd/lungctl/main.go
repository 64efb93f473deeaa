// Command lungctl finds lung nodules in chest CT scans and scores how likely
// each is to be malignant. Each stage is a subcommand; see `lungctl --help`.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPartial = 3
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks errors caused by how the command was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// partialError reports a batch run in which some scans failed.
type partialError struct{ failed, total int }

func (p partialError) Error() string {
	return fmt.Sprintf("%d of %d scans failed (see failures.csv)", p.failed, p.total)
}

type globalFlags struct {
	logFormat string
	quiet     bool
	verbose   bool
}

var gf globalFlags

// logger is the process-wide logger configured from the global flags.
var logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

func setupLogging(w io.Writer) error {
	level := slog.LevelInfo
	if gf.quiet {
		level = slog.LevelWarn
	}
	if gf.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch gf.logFormat {
	case "text", "":
		logger = slog.New(newHumanHandler(w, opts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return usagef("--log-format must be text or json, not %q", gf.logFormat)
	}
	return nil
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "lungctl",
		Short: "Find lung nodules in chest CT and score their malignancy",
		Long: `lungctl turns chest CT scans (DICOM folders, LUNA16 .mhd, NIfTI) into nodule
candidates with malignancy scores, one stage per subcommand:

  preprocess  DICOM/.mhd -> 1 mm HU volume + lung mask (NIfTI) + provenance JSON
  detect      5-D mean-shift over (x, y, z, HU, shape index) -> candidates.csv
  classify    3-D CNN malignancy per candidate, patient probability
  run         all stages over a folder of scans, resumable
  eval        LUNA16 FROC/CPM of candidates against annotations

World coordinates are DICOM/LUNA16 LPS millimetres everywhere (CSV and logs).`,
		Example: `  lungctl demo                       # synthetic patients, whole pipeline, no downloads
  lungctl run stage1/ -o out/ -j 2    # a Kaggle DSB 2017 folder`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return setupLogging(cmd.ErrOrStderr())
		},
	}
	root.PersistentFlags().StringVar(&gf.logFormat, "log-format", "text", "log format: text (for people) or json (one object per line, for scripts)")
	root.PersistentFlags().BoolVarP(&gf.quiet, "quiet", "q", false, "only warnings and errors")
	root.PersistentFlags().BoolVarP(&gf.verbose, "verbose", "v", false, "debug logging")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands holds the constructors of every subcommand; each file adds
// its own in init.
var subcommands []func() *cobra.Command

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var u usageError
	var p partialError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &p):
		return exitPartial
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "accepts "),
		strings.HasPrefix(err.Error(), "requires "):
		return exitUsage
	}
	return exitFailure
}

func main() {
	root := newRoot()
	err := root.Execute()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lungctl: %v\n", err)
		if exitCode(err) == exitUsage {
			fmt.Fprintln(os.Stderr, "Run 'lungctl --help' for usage.")
		}
	}
	os.Exit(exitCode(err))
}
