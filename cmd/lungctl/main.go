// Command lungctl finds lung nodules in chest CT scans and scores how likely
// each is to be malignant. Each stage is a subcommand; see `lungctl --help`.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/textsafe"
	"github.com/lungctl/lungctl/internal/volio"
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

// partialError reports a batch run in which some scans failed; file is the
// failures file to look at, or, when empty, the failures were logged (train:
// volumes, its model written from the rest).
type partialError struct {
	failed, total int
	file          string
}

func (p partialError) Error() string {
	if p.file == "" {
		return fmt.Sprintf("%d of %d volumes failed to read (see the warnings above); the model was trained on the rest", p.failed, p.total)
	}
	return fmt.Sprintf("%d of %d scans failed (see %s)", p.failed, p.total, p.file)
}

type globalFlags struct {
	logFormat string
	quiet     bool
	verbose   bool
	threads   int
	maxMemory string
}

var gf globalFlags

// logger is the process-wide logger configured from the global flags.
var logger = slog.New(newHumanHandler(os.Stderr, &slog.HandlerOptions{}))

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

// setupMemory applies --max-memory, or checks $LUNGCTL_MAX_MEMORY: the
// memory budget every reader checks input-sized allocations against
// (internal/membudget). A value that does not parse is a usage error,
// from the flag or the environment alike.
func setupMemory() error {
	if gf.maxMemory != "" {
		n, err := membudget.Parse(gf.maxMemory)
		if err != nil {
			return usagef("--max-memory: %v", err)
		}
		membudget.Set(n)
		return nil
	}
	if err := membudget.EnvError(); err != nil {
		return usageError{err}
	}
	return nil
}

// setupThreads applies --threads: the worker budget of every parallel loop
// (internal/par) and GOMAXPROCS; 0 keeps the default, GOMAXPROCS (all cores,
// or what the GOMAXPROCS variable or the container's CPU quota says).
func setupThreads() error {
	if err := checkInt("threads", gf.threads, 0, 4096); err != nil {
		return err
	}
	if gf.threads > 0 {
		runtime.GOMAXPROCS(gf.threads)
		par.SetLimit(gf.threads)
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
  classify    malignancy per candidate (Brock by default, or the 3-D CNN), patient probability
  run         all stages over a folder of scans, resumable, one process per scan
  eval        LUNA16 FROC/CPM of candidates against annotations

World coordinates are DICOM/LUNA16 LPS millimetres everywhere (CSV and logs).
Exit codes: 0 success, 1 failure (for run: also every scan failed), 2 usage error,
3 some scans of a batch failed, others succeeded.`,
		Example: `  lungctl demo                       # synthetic patients, whole pipeline, no downloads
  lungctl run stage1/ -o out/ -j 2    # a Kaggle DSB 2017 folder`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := setupLogging(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if err := setupMemory(); err != nil {
				return err
			}
			return setupThreads()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&gf.logFormat, "log-format", "text", "log format: text (for people) or json (one object per line, for scripts)")
	pf.BoolVarP(&gf.quiet, "quiet", "q", false, "only warnings and errors")
	pf.BoolVarP(&gf.verbose, "verbose", "v", false, "debug logging: stage timings, counts, backend choices")
	pf.IntVar(&gf.threads, "threads", 0, "CPU threads all work may use at once, 0-4096 (0 = every core)")
	pf.StringVar(&gf.maxMemory, "max-memory", "", "memory budget, bytes or with K, M, G, T (e.g. 8G): what input-sized allocations may take "+
		"(default: $"+membudget.EnvVar+", else half the machine's or container's memory); for run, the budget of the scans running at once, "+
		"split equally, at least 256MiB (default there: 75%)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
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
	case errors.As(err, &u), errors.Is(err, pipeline.ErrUsage):
		return exitUsage
	case errors.As(err, &p):
		return exitPartial
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "accepts "),
		strings.HasPrefix(err.Error(), "requires "), strings.HasPrefix(err.Error(), "invalid argument"):
		return exitUsage
	}
	return exitFailure
}

// crashNotTwo makes a Go runtime fatal error or an unrecovered panic end the
// process with SIGABRT (shell status 134) instead of the runtime's exit
// status 2, which means "usage error" here; core dumps stay off. A
// GOTRACEBACK set by the user wins.
func crashNotTwo() {
	if os.Getenv("GOTRACEBACK") != "" {
		return
	}
	debug.SetTraceback("crash")
	// Best effort: lowering a limit is always permitted, and where it still
	// fails a crash only leaves a core file besides ending with SIGABRT.
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}

// gcPercent is the collector's target heap growth (GOGC) unless GOGC is
// set; see main.
const gcPercent = 25

func main() {
	volio.ToolVersion = version
	if os.Getenv("GOGC") == "" {
		// The heap is a few large volume buffers without pointers,
		// reused from stage to stage and scan to scan: collecting when it
		// has grown by a quarter instead of doubled costs no measurable
		// time (a whole run on LIDC-IDRI-0001: 2.40–2.61 s at 25 against
		// 2.43–2.60 s at 50, four runs each) and cuts its peak memory from
		// about 500 MB (100) and 466–494 MB (50) to 443–446 MB. GOGC
		// overrides it.
		debug.SetGCPercent(gcPercent)
	}
	if len(os.Args) < 2 || os.Args[1] != scanChildName {
		crashNotTwo()
	}
	os.Exit(execute(os.Args[1:]))
}

// execute runs the command line and prints its error: a text line, or a
// JSON object under --log-format json, like every other line.
func execute(args []string) (code int) {
	defer func() {
		if p := recover(); p != nil {
			code = exitFailure
			reportError(fmt.Errorf("internal error: %v", p), code)
		}
	}()
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	code = exitCode(err)
	if err != nil {
		reportError(err, code)
	}
	return code
}

func reportError(err error, code int) {
	if gf.logFormat != "json" && logFormatFromArgs(os.Args[1:]) == "json" {
		gf.logFormat = "json" // flag parsing stopped before --log-format
	}
	if gf.logFormat == "json" {
		l := slog.New(slog.NewJSONHandler(os.Stderr, nil))
		attrs := []any{"error", err.Error(), "exit_code", code}
		if code == exitUsage {
			attrs = append(attrs, "hint", "run 'lungctl --help' for usage")
		}
		l.Error("lungctl failed", attrs...)
		return
	}
	fmt.Fprintf(os.Stderr, "lungctl: %s\n", textsafe.Escape(err.Error()))
	if code == exitUsage {
		fmt.Fprintln(os.Stderr, "Run 'lungctl --help' for usage.")
	}
}

// logFormatFromArgs finds --log-format's value on a command line cobra
// could not parse.
func logFormatFromArgs(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--log-format="); ok {
			return v
		}
		if a == "--log-format" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
