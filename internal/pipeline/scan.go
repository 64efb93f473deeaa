package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/detect"
	"github.com/lungctl/lungctl/internal/psf"
	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/warn"
)

// ScanOptions configures ProcessScan: the options of each stage.
type ScanOptions struct {
	Preprocess PreprocessOptions
	Detect     detect.Options
	// Score picks the scorer, the model and the covariates (see Score).
	Score ScoreOptions
	// WriteVolumes also writes <id>.nii.gz, <id>_lung.nii.gz and <id>.json
	// into the scan folder.
	WriteVolumes bool
	// Snapshots writes PNGs of the first Snapshots candidates by
	// malignancy and an overview (0 = none), in SnapshotWindow (zero: the
	// lung window).
	Snapshots      int
	SnapshotWindow render.Window
	// Export writes the findings for other tools (WriteExports): Slicer
	// markups, the label map and, for DICOM inputs, DICOM SEG and SR.
	Export bool
	// Report writes the scan's HTML report (<id>_report.html, see
	// BuildReport).
	Report bool
	// Log receives per-scan messages (debug: stage timings, counts, the
	// mean-shift backend; warnings: what the exports could not do); nil
	// means none.
	Log *slog.Logger
}

// Outputs lists the files (relative to the scan folder) a complete scan
// must have for these options beyond candidates.csv and done.json: a run
// that asks for volumes, exports or a report redoes a scan an earlier run
// completed without them.
func (o ScanOptions) Outputs(id string) []string {
	var fs []string
	if o.WriteVolumes {
		fs = append(fs, id+".json")
	}
	if o.Export {
		mrk, lab, _, _ := ExportNames(id)
		fs = append(fs, mrk, lab)
	}
	if o.Report {
		fs = append(fs, ReportName(id))
	}
	return fs
}

// Detect runs detection on a preprocessed scan and returns its candidates
// with SeriesUID set.
func Detect(p *Preprocessed, opt detect.Options, dws *detect.Workspace) ([]candidate.Candidate, *detect.Result, error) {
	t := time.Now()
	opt.SeriesUID = p.SeriesUID
	if opt.Nodule.SourceSpacingMM == ([3]float64{}) {
		opt.Nodule.SourceSpacingMM = p.AcquisitionSpacing
	}
	if opt.Nodule.SliceThicknessMM == 0 {
		opt.Nodule.SliceThicknessMM = p.SliceThickness
	}
	if opt.Nodule.KernelSigmaMM == 0 {
		// The reconstruction kernel's blur, from the air–skin edge.
		if s, ok := psf.Kernel(p.HU, p.AcquisitionSpacing[0]); ok {
			opt.Nodule.KernelSigmaMM, p.KernelSigmaMM = s, s
		}
	}
	if dws != nil {
		opt.Work = dws
	}
	if p.Lung == nil {
		return nil, nil, fmt.Errorf("detect %s: no lung mask", p.ID)
	}
	r, err := detect.Run(p.HU, p.Lung, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("detect %s: %w", p.ID, err)
	}
	for i := range r.Candidates {
		r.Candidates[i].PatientID = p.ID
	}
	p.Seconds["detect"] = sinceSec(t)
	return r.Candidates, r, nil
}

// Worker processes scans one at a time with reusable buffers; give each
// concurrent worker its own.
type Worker struct {
	Opt ScanOptions
	pre Workspace
	det detect.Workspace
}

func (w *Worker) log() *slog.Logger {
	if w.Opt.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return w.Opt.Log
}

// Process is a ScanFunc: preprocess → detect → characterise and score
// (Score) for one input, writing the optional volumes, pictures, exports
// and report into scanDir.
func (w *Worker) Process(ctx context.Context, input, scanDir string) (ScanRecord, []candidate.Candidate, error) {
	start := time.Now()
	rec := ScanRecord{ID: ScanID(input), Input: input}
	popt := w.Opt.Preprocess
	popt.KeepSource = w.Opt.Report || w.Opt.Snapshots > 0
	p, err := Preprocess(input, popt, &w.pre)
	if err != nil {
		return rec, nil, err
	}
	p.ID = rec.ID // a linked input keeps the link's name
	rec.SeriesUID = p.SeriesUID
	rec.Warnings = warn.Strings(p.Sidecar.Warnings)
	if err := ctx.Err(); err != nil {
		return rec, nil, err
	}
	cs, dr, err := Detect(p, w.Opt.Detect, &w.det)
	if err != nil {
		return rec, nil, err
	}
	log := w.log()
	backend := "default"
	if b := w.Opt.Detect.Cluster.Backend; b != nil {
		backend = b.Name()
	}
	log.Debug("detected", "scan", rec.ID, "dims", fmt.Sprint(p.HU.Dims), "points", len(dr.Points)/5,
		"clusters", dr.Clusters, "candidates", len(cs), "backend", backend)
	sc, err := Score(p, cs, w.Opt.Score)
	if err != nil {
		return rec, nil, err
	}
	rec.setScored(sc)
	if p.KernelSigmaMM > 0 {
		k := math.Round(p.KernelSigmaMM*1000) / 1000
		rec.KernelSigmaMM = &k
	}
	rec.ConvolutionKernel = p.ConvolutionKernel
	rec.PatientID = p.Sidecar.PatientID
	set := w.Opt.settings()
	set.ClinicalRow = w.Opt.Score.Clinical.clinicalRow(p.ID, p.Sidecar.PatientID)
	rec.Settings = &set
	if err := w.outputs(p, cs, dr, &rec, scanDir); err != nil {
		return rec, nil, err
	}
	rec.Candidates = len(cs)
	p.Seconds["total"] = sinceSec(start)
	rec.Seconds = p.Seconds
	log.Debug("scan stages", "scan", rec.ID, "seconds", rec.Seconds, "cancer", rec.Cancer)
	return rec, cs, nil
}

// setScored copies the scoring's patient-level results into the record.
func (r *ScanRecord) setScored(s *Scored) {
	r.Cancer, r.Scorer = s.Cancer, string(s.Scorer)
	r.ModelSHA256, r.ModelDomain = s.ModelSHA256, s.ModelDomain
	r.Clinical = s.Clinical
	if s.Masked {
		e := math.Round(s.Risk.EmphysemaPct*1000) / 1000
		raw := math.Round(s.Risk.Densitometry.RawLAA950*1000) / 1000
		r.EmphysemaPct, r.EmphysemaRawPct, r.LungRADS, r.Reported = &e, &raw, s.Risk.LungRADS, s.Risk.Reported
		if n := s.Risk.Densitometry.NoiseHU; n > 0 {
			n = math.Round(n*10) / 10
			r.LungNoiseHU = &n
		}
	}
	r.Warnings = append(r.Warnings, s.Warnings...)
}

// outputs writes the optional files into dir, in this order: volumes,
// pictures, exports, then the report (which shows every warning before
// it), adding their names and warnings to rec.
func (w *Worker) outputs(p *Preprocessed, cs []candidate.Candidate, dr *detect.Result, rec *ScanRecord, dir string) error {
	if w.Opt.WriteVolumes {
		ps, err := p.Write(dir, 0)
		if err != nil {
			return err
		}
		for _, f := range []string{ps.HU, ps.Lung, ps.Sidecar} {
			if f != "" {
				rec.Files = append(rec.Files, filepath.Base(f))
			}
		}
	}
	if w.Opt.Snapshots > 0 {
		t := time.Now()
		names, err := WriteSnapshots(p, cs, dir, SnapshotOptions{Top: w.Opt.Snapshots, Window: w.Opt.SnapshotWindow})
		if err != nil {
			return err
		}
		rec.Files = append(rec.Files, names...)
		p.Seconds["snapshots"] = sinceSec(t)
	}
	if w.Opt.Export {
		t := time.Now()
		ex, err := WriteExports(p, cs, dr.Nodules, dir)
		if err != nil {
			return err
		}
		for _, m := range ex.Warnings {
			w.log().Warn(m, "scan", rec.ID)
		}
		rec.Files = append(rec.Files, ex.Files...)
		rec.Warnings = append(rec.Warnings, ex.Warnings...)
		p.Seconds["export"] = sinceSec(t)
	}
	if w.Opt.Report {
		t := time.Now()
		name := ReportName(rec.ID)
		in := ReportInput{Rec: *rec, Cands: cs, HU: p.HU, Lung: p.Lung, Source: p.Source}
		if err := WriteReport(filepath.Join(dir, name), in); err != nil {
			return err
		}
		rec.Files = append(rec.Files, name)
		p.Seconds["report"] = sinceSec(t)
	}
	return nil
}
