package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/detect"
	"github.com/lungctl/lungctl/internal/warn"
)

// ScanOptions configures ProcessScan: the options of each stage.
type ScanOptions struct {
	Preprocess PreprocessOptions
	Detect     detect.Options
	// Model scores candidates; nil skips classification (Malignancy stays
	// NaN and the patient probability is NoisyOR's leak).
	Model *classify.Model
	// NoisyORK and NoisyORLeak combine candidate malignancies into the
	// patient probability (see classify.NoisyOR).
	NoisyORK    int
	NoisyORLeak float64
	// WriteVolumes also writes <id>.nii.gz, <id>_lung.nii.gz and <id>.json
	// into the scan folder.
	WriteVolumes bool
	// Snapshots writes PNGs of the top Snapshots candidates and an
	// overview (0 = none).
	Snapshots int
	// Log receives per-scan debug messages (stage timings, counts, the
	// mean-shift backend); nil means none.
	Log *slog.Logger
}

// Detect runs detection on a preprocessed scan and returns its candidates
// with SeriesUID set.
func Detect(p *Preprocessed, opt detect.Options, dws *detect.Workspace) ([]candidate.Candidate, *detect.Result, error) {
	t := time.Now()
	opt.SeriesUID = p.SeriesUID
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

// Classify fills each candidate's Malignancy with the model's probability
// and returns the patient-level probability (noisy-OR over the top k).
func Classify(p *Preprocessed, cs []candidate.Candidate, m *classify.Model, k int, leak float64) (float64, error) {
	t := time.Now()
	ps, err := classify.Score(p.HU, cs, m)
	if err != nil {
		return 0, fmt.Errorf("classify %s: %w", p.ID, err)
	}
	for i := range cs {
		cs[i].Malignancy = ps[i]
	}
	p.Seconds["classify"] = sinceSec(t)
	return classify.NoisyOR(ps, k, leak), nil
}

// Worker processes scans one at a time with reusable buffers; give each
// concurrent worker its own.
type Worker struct {
	Opt ScanOptions
	pre Workspace
	det detect.Workspace
}

// Process is a ScanFunc: preprocess → detect → classify for one input,
// writing optional volumes and pictures into scanDir.
func (w *Worker) Process(ctx context.Context, input, scanDir string) (ScanRecord, []candidate.Candidate, error) {
	start := time.Now()
	rec := ScanRecord{ID: ScanID(input), Input: input}
	p, err := Preprocess(input, w.Opt.Preprocess, &w.pre)
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
	log := w.Opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	backend := "default"
	if b := w.Opt.Detect.Cluster.Backend; b != nil {
		backend = b.Name()
	}
	log.Debug("detected", "scan", rec.ID, "dims", fmt.Sprint(p.HU.Dims), "points", len(dr.Points)/5,
		"clusters", dr.Clusters, "candidates", len(cs), "backend", backend)
	// Without a model detect's NaN malignancies stand and the patient
	// probability is the leak.
	rec.Cancer = w.Opt.NoisyORLeak
	if w.Opt.Model != nil {
		if rec.Cancer, err = Classify(p, cs, w.Opt.Model, w.Opt.NoisyORK, w.Opt.NoisyORLeak); err != nil {
			return rec, nil, err
		}
	}
	if w.Opt.WriteVolumes {
		ps, err := p.Write(scanDir, 0)
		if err != nil {
			return rec, nil, err
		}
		for _, f := range []string{ps.HU, ps.Lung, ps.Sidecar} {
			if f != "" {
				rel, err := filepath.Rel(scanDir, f)
				if err != nil {
					return rec, nil, err
				}
				rec.Files = append(rec.Files, rel)
			}
		}
	}
	if w.Opt.Snapshots > 0 {
		t := time.Now()
		names, err := WriteSnapshots(p, cs, scanDir, w.Opt.Snapshots)
		if err != nil {
			return rec, nil, err
		}
		rec.Files = append(rec.Files, names...)
		p.Seconds["snapshots"] = sinceSec(t)
	}
	rec.Candidates = len(cs)
	p.Seconds["total"] = sinceSec(start)
	rec.Seconds = p.Seconds
	log.Debug("scan stages", "scan", rec.ID, "seconds", rec.Seconds, "cancer", rec.Cancer)
	return rec, cs, nil
}
