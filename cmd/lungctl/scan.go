package main

import (
	"context"
	"strconv"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newScanChildCmd) }

// scanChildName is the hidden subcommand 'lungctl run' starts once per scan.
const scanChildName = "__scan"

// scanFlags are the flags that configure one scan of 'run' (and of its
// scan processes, which get them forwarded).
type scanFlags struct {
	pf         preprocessFlags
	df         detectFlags
	cf         classifyFlags
	volumes    bool
	snaps      int
	noClassify bool
	export     bool
	report     bool
	// child is set in a scan process: warnings that the parent already
	// logged once are not logged again per scan.
	child bool
}

func (f *scanFlags) add(cmd *cobra.Command) {
	f.pf.add(cmd)
	f.df.add(cmd)
	f.cf.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.volumes, "volumes", false, "also keep each scan's 1 mm HU volume, lung mask and provenance JSON")
	fl.IntVar(&f.snaps, "snapshots", 0, "PNGs of the N most malignant candidates (malignancy × detection score) of each scan (source resolution) and an overview, 0-1000 (0 = none)")
	fl.BoolVar(&f.noClassify, "no-classify", false, "no malignancy scorer: malignancy empty, cancer = --leak (measurements, brock and lung_rads columns still filled)")
	fl.BoolVar(&f.export, "export", false, "also write each scan's findings for other tools: <id>_findings.mrk.json (3D Slicer), <id>_labels.nii.gz (label map), and for DICOM inputs <id>_seg.dcm (DICOM SEG) and <id>_sr.dcm (TID 1500 SR)")
	fl.BoolVar(&f.report, "report", false, "also write each scan's self-contained HTML report <id>_report.html and OUT/index.html")
}

// defaultScanFlags returns every scan flag at its default.
func defaultScanFlags() scanFlags {
	var f scanFlags
	f.add(&cobra.Command{})
	return f
}

// options checks the flags and builds the scan options (loading the model,
// so that a bad --model fails before any scan).
func (f *scanFlags) options() (pipeline.ScanOptions, error) {
	var opt pipeline.ScanOptions
	if err := firstErr(checkInt("snapshots", f.snaps, 0, 1000), checkInt("top-k", f.cf.k, 1, 1000)); err != nil {
		return opt, err
	}
	popt, err := f.pf.options()
	if err != nil {
		return opt, err
	}
	dopt, err := f.df.options()
	if err != nil {
		return opt, err
	}
	opt.Preprocess, opt.Detect = popt, dopt
	opt.WriteVolumes, opt.Snapshots, opt.Export, opt.Report = f.volumes, f.snaps, f.export, f.report
	opt.Log = logger
	opt.Score, err = f.cf.scoreOptions(f.noClassify, f.child)
	if err == nil && !f.child && !f.noClassify {
		f.cf.warnUnusedModel(opt.Score)
	}
	return opt, err
}

// childArgs are the arguments of a scan process: the hidden subcommand,
// the logging flags (JSON, so the parent can re-log every line) and every
// scan flag's value.
func (f *scanFlags) childArgs() []string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	a := []string{scanChildName, "--log-format=json"}
	if gf.verbose {
		a = append(a, "-v")
	}
	if gf.quiet {
		a = append(a, "-q")
	}
	d := f.df
	a = append(a, "--spacing="+f.pf.spacing, "--series="+f.pf.series,
		"--hu-min="+g(d.huMin), "--si-min="+g(d.siMin), "--sigma="+g(d.sigma), "--bandwidth-mm="+g(d.bwSpatial),
		"--bandwidth-hu="+g(d.bwHU), "--bandwidth-si="+g(d.bwSI), "--min-diameter="+g(d.minD),
		"--max-diameter="+g(d.maxD), "--max-candidates="+strconv.Itoa(d.max), "--device="+d.device,
		"--model="+f.cf.model, "--top-k="+strconv.Itoa(f.cf.k), "--leak="+g(f.cf.leak),
		"--scorer="+f.cf.scorer, "--cnn="+strconv.FormatBool(f.cf.cnn), "--clinical="+f.cf.clinical,
		"--snapshots="+strconv.Itoa(f.snaps), "--volumes="+strconv.FormatBool(f.volumes),
		"--no-classify="+strconv.FormatBool(f.noClassify), "--export="+strconv.FormatBool(f.export),
		"--report="+strconv.FormatBool(f.report))
	return a
}

// scanHook, when set (only in test builds, see testhooks_on.go), runs
// before each scan with its id.
var scanHook func(id string)

// hooked wraps fn with scanHook.
func hooked(fn pipeline.ScanFunc) pipeline.ScanFunc {
	if scanHook == nil {
		return fn
	}
	return func(ctx context.Context, in, dir string) (pipeline.ScanRecord, []candidate.Candidate, error) {
		scanHook(pipeline.ScanID(in))
		return fn(ctx, in, dir)
	}
}

func newScanChildCmd() *cobra.Command {
	var sf scanFlags
	cmd := &cobra.Command{
		Use:    scanChildName + " [flags] -- INPUT SCANDIR",
		Short:  "internal: process one scan for 'lungctl run' in its own process",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sf.child = true
			opt, err := sf.options()
			if err != nil {
				return err
			}
			opt.Preprocess.OneScan = true // this process serves one scan
			w := &pipeline.Worker{Opt: opt}
			return pipeline.ServeChild(cmd.Context(), hooked(w.Process), args[0], args[1])
		},
	}
	sf.add(cmd)
	return cmd
}
