package pipeline

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/segment"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// PreprocessOptions configures Preprocess.
type PreprocessOptions struct {
	// Spacing is the output voxel size in mm (default 1×1×1).
	Spacing volume.Vec3
	// SeriesUID picks a DICOM series ("" = the axial CT series with most
	// slices).
	SeriesUID string
	// Segment tunes the lung mask.
	Segment segment.Options
	// NoMask skips lung segmentation.
	NoMask bool
	// KeepSource keeps the acquisition-grid volume (Preprocessed.Source)
	// in a one-shot call (ws == nil), for pictures at source resolution;
	// otherwise it is released before the lung mask to lower peak memory.
	// A Workspace keeps it for reuse anyway, so with one it is always set.
	KeepSource bool
	// OneScan says no later scan will reuse the Workspace (a scan process
	// of `run`): the acquisition-grid stack is then released like in a
	// one-shot call, unless KeepSource (about 70 MB less at the peak on
	// LIDC-IDRI-0001).
	OneScan bool
}

// Preprocessed is one scan at the output spacing, in memory.
type Preprocessed struct {
	// ID names the output files (see ScanID).
	ID string
	// KernelSigmaMM is the reconstruction kernel's in-plane point spread σ
	// (mm) that Detect read from the scan's air–skin edge (internal/psf);
	// 0 until then, or when no edge could be read.
	KernelSigmaMM float64
	// SeriesUID is the DICOM SeriesInstanceUID, or the ID for files.
	SeriesUID string
	// HU is the resampled volume in HU on an orthogonal grid (LPS).
	HU *volume.Volume[int16]
	// Lung is the lung mask on HU's grid (nil with NoMask).
	Lung *volume.Volume[uint8]
	// Source is the scan on its acquisition grid in HU, after the one HU
	// normalisation: the DICOM slice stack (its grid spans the slices;
	// uneven gaps are averaged, tilt is a shear) or the input file's own
	// grid. It is HU itself when the input was already on the output grid,
	// and nil when a one-shot Preprocess released it (see KeepSource).
	// With a Workspace it is reused by the next scan.
	Source *volume.Volume[int16]
	// PatientAge and PatientSex are the DICOM series' values (AS and CS
	// strings, e.g. "062Y" and "F"; empty when absent or not DICOM), or
	// those a preprocess output's sidecar recorded.
	PatientAge, PatientSex string
	// Sidecar is the provenance record.
	Sidecar volio.Sidecar
	// AcquisitionSpacing is the scanner's voxel spacing (mm, in its grid's
	// column, row, slice order): the
	// input's own, or, for a preprocess output, the one its sidecar
	// recorded. It sets the blur that small lesions' density is corrected
	// for (nodule.Options.SourceSpacingMM).
	AcquisitionSpacing volume.Vec3
	// SliceThickness is the DICOM SliceThickness (mm; from the sidecar for
	// a preprocess output), 0 when unknown.
	SliceThickness float64
	// ConvolutionKernel is the DICOM ConvolutionKernel (from the sidecar
	// for a preprocess output), "" when unknown.
	ConvolutionKernel string
	// Seconds holds wall time per step: load, resample, mask.
	Seconds map[string]float64
}

// Workspace holds volume-sized buffers reused from scan to scan in a batch
// (touching fresh memory pages is slow); the zero value is ready. It is not
// safe for concurrent use: give each worker its own.
type Workspace struct {
	raw  *volume.Volume[int16]
	hu   *volume.Volume[int16]
	mask *volume.Volume[uint8]
	seg  segment.Segmenter
}

func sinceSec(t time.Time) float64 { return math.Round(time.Since(t).Seconds()*1000) / 1000 }

// bytesPerOutputVoxel is what preprocessing holds per voxel of the output
// grid at its peak: the int16 HU volume (2), the uint8 mask (1), the
// segmenter's class map (1), its run and distance scratch (about 2) and,
// in the dome step, the opening of a dome that vessels touch (a float32
// and two bits a voxel of a block of at most half the volume: about 2). It
// sizes the memory-budget check made before the grid is allocated.
const bytesPerOutputVoxel = 8

// Preprocess reads a scan (DICOM folder or .zip, .mhd/.mha or NIfTI),
// converts it to HU, applies the one HU normalisation
// (hounsfield.Normalize: padding and anything below −1100 HU become
// −1000) to every input kind, resamples it onto the world-aligned grid of
// opt.Spacing (resample.OutputGrid: LPS axes, origin on whole multiples of
// the spacing) and segments the lungs. Sizes from the input are checked
// against the memory budget (internal/membudget) before they are
// allocated. ws may be nil.
func Preprocess(in string, opt PreprocessOptions, ws *Workspace) (*Preprocessed, error) {
	oneShot := ws == nil
	if oneShot {
		ws = &Workspace{}
	}
	if opt.Spacing == (volume.Vec3{}) {
		opt.Spacing = volume.Vec3{1, 1, 1}
	}
	kind, err := KindOf(in)
	if err != nil {
		return nil, err
	}
	p := &Preprocessed{ID: ScanID(in), Seconds: map[string]float64{}}
	sc := &p.Sidecar
	sc.Tool, sc.Input = "lungctl", absPath(in)
	t := time.Now()
	src, positions, err := p.load(in, kind, opt, ws)
	if err != nil {
		return nil, err
	}
	sc.SetOriginal(src.Grid)
	if p.AcquisitionSpacing == (volume.Vec3{}) {
		p.AcquisitionSpacing = src.Grid.Spacing
	}
	sc.AcquisitionSpacing, sc.AcquisitionSliceThicknessMM = p.AcquisitionSpacing, p.SliceThickness
	sc.ConvolutionKernel = p.ConvolutionKernel
	// The one HU normalisation, for every input kind, before resampling
	// (so padding does not blend into the scan's edge).
	if n := hounsfield.Normalize(src.Data); n > 0 {
		if sc.Extra == nil {
			sc.Extra = map[string]string{}
		}
		sc.Extra["padding_voxels_set_to_air"] = fmt.Sprintf("%d of %d (%.1f%%)", n, len(src.Data), 100*float64(n)/float64(len(src.Data)))
	}
	p.Seconds["load"] = sinceSec(t)

	t = time.Now()
	og, err := resample.OutputGrid(src.Grid, positions, opt.Spacing)
	if err != nil {
		return nil, fmt.Errorf("resample %s: %w", in, err)
	}
	// Refused before resampling: the volumes go out as NIfTI-1.
	if err := volio.CheckNIfTIDims(og.Dims); err != nil {
		return nil, fmt.Errorf("preprocess %s: the %d×%d×%d output grid at %v mm: %w", in, og.Dims[0], og.Dims[1], og.Dims[2], opt.Spacing, err)
	}
	what := fmt.Sprintf("preprocess %s: %d×%d×%d grid at %v mm", in, og.Dims[0], og.Dims[1], og.Dims[2], opt.Spacing)
	if err := membudget.Check(what, membudget.Mul(int64(og.Len()), bytesPerOutputVoxel)); err != nil {
		return nil, err
	}
	if positions == nil && og == src.Grid {
		p.HU = src   // already on the grid: resampling would only copy
		ws.raw = nil // handed out: do not reuse it under the caller
	} else {
		hu, err := resample.Stack(src, positions, opt.Spacing, ws.hu)
		if err != nil {
			return nil, fmt.Errorf("resample %s: %w", in, err)
		}
		p.HU, ws.hu = hu, hu
	}
	sc.SetOutput(p.HU.Grid)
	p.Seconds["resample"] = sinceSec(t)
	p.Source = src
	if (oneShot || opt.OneScan) && p.HU != src && !opt.KeepSource {
		// Nobody reuses the acquisition-grid stack: let the collector
		// hand its pages to the mask's buffers (peak memory ~1 copy less).
		// The locals src and positions are not read again, so they hold
		// nothing alive; the workspace and p would.
		ws.raw, p.Source = nil, nil
		runtime.GC()
	}

	if !opt.NoMask {
		if err := p.segment(in, opt, ws); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Sidecar Extra keys that carry the DICOM covariates to later stages.
const (
	sidecarAge = "dicom_patient_age"
	sidecarSex = "dicom_patient_sex"
)

// setExtra records a non-empty value under key in the sidecar's Extra.
func setExtra(sc *volio.Sidecar, key, v string) {
	if v == "" {
		return
	}
	if sc.Extra == nil {
		sc.Extra = map[string]string{}
	}
	sc.Extra[key] = v
}

// load reads the scan on its acquisition grid into the workspace's buffer
// and records its provenance; positions are the DICOM slices' own (nil for
// files).
func (p *Preprocessed) load(in string, kind Kind, opt PreprocessOptions, ws *Workspace) (*volume.Volume[int16], []volume.Vec3, error) {
	sc := &p.Sidecar
	if kind == DICOMDir {
		s, err := dicomio.Load(in, dicomio.Options{SeriesUID: opt.SeriesUID, Reuse: ws.raw})
		if err != nil {
			return nil, nil, err
		}
		ws.raw = s.HU
		sc.SeriesUID, sc.StudyUID, sc.PatientID = s.Info.UID, s.Info.StudyUID, s.Info.PatientID
		sc.Modality, sc.Manufacturer, sc.Description = s.Info.Modality, s.Info.Manufacturer, s.Info.Description
		sc.Warnings = append(sc.Warnings, s.Warnings...)
		p.SeriesUID = s.Info.UID
		p.PatientAge, p.PatientSex = s.Info.PatientAge, s.Info.PatientSex
		p.SliceThickness, p.ConvolutionKernel = s.Info.SliceThickness, s.Info.ConvolutionKernel
		setExtra(sc, sidecarAge, p.PatientAge)
		setExtra(sc, sidecarSex, p.PatientSex)
		return s.HU, s.Positions, nil
	}
	v, vw, err := volio.ReadHUIntoWarn(in, ws.raw)
	if err != nil {
		return nil, nil, err
	}
	ws.raw = v
	sc.Warnings = append(sc.Warnings, vw...)
	p.SeriesUID, sc.SeriesUID = p.ID, p.ID
	// A preprocess output carries its provenance next to it. One that is
	// there but unusable, or a UID in it that is not one, costs a warning
	// naming the sidecar (volio.LoadSidecar); none at all is normal.
	side, ok, warns := volio.LoadSidecar(sidecarPath(in), p.ID)
	sc.Warnings = append(sc.Warnings, warns...)
	if ok && side.SeriesUID != "" {
		p.SeriesUID, sc.SeriesUID = side.SeriesUID, side.SeriesUID
		// Sidecars written before the acquisition was recorded apart
		// name it as their original grid.
		p.AcquisitionSpacing, p.SliceThickness = side.AcquisitionSpacing, side.AcquisitionSliceThicknessMM
		p.ConvolutionKernel = side.ConvolutionKernel
		if p.AcquisitionSpacing == (volume.Vec3{}) {
			p.AcquisitionSpacing = side.OriginalSpacing
		}
		sc.PatientID, sc.StudyUID = side.PatientID, side.StudyUID
		p.PatientAge, p.PatientSex = side.Extra[sidecarAge], side.Extra[sidecarSex]
		setExtra(sc, sidecarAge, p.PatientAge)
		setExtra(sc, sidecarSex, p.PatientSex)
	}
	return v, nil, nil
}

// segment computes the lung mask of p.HU into the workspace's buffer.
func (p *Preprocessed) segment(in string, opt PreprocessOptions, ws *Workspace) error {
	t := time.Now()
	m, st, err := ws.seg.Lungs(p.HU, opt.Segment, ws.mask)
	if errors.Is(err, segment.ErrNoLungs) {
		return fmt.Errorf("lung mask %s: %w (not a chest CT?)", in, err)
	}
	if err != nil {
		return fmt.Errorf("lung mask %s: %w", in, err)
	}
	p.Lung, ws.mask = m, m
	if opt.OneScan {
		ws.seg = segment.Segmenter{} // its scratch (a byte a voxel and more) goes back to the collector
	}
	setExtra(&p.Sidecar, "lung_volume_ml", fmt.Sprintf("%.0f", st.VolumeML))
	p.Seconds["mask"] = sinceSec(t)
	return nil
}

func sidecarPath(volumePath string) string {
	id := ScanID(volumePath)
	return filepath.Join(filepath.Dir(volumePath), id+".json")
}

// Paths are the files Write produces for a scan id in a folder.
type Paths struct {
	HU, Lung, Sidecar string
}

// NoGzip, as Write's gzipLevel, writes uncompressed .nii files.
const NoGzip = -1

// OutputPaths returns where Write puts id's files in dir (.nii.gz, or .nii
// when gzipLevel is NoGzip).
func OutputPaths(dir, id string, gzipLevel int) Paths {
	ext := ".nii.gz"
	if gzipLevel == NoGzip {
		ext = ".nii"
	}
	return Paths{
		HU:      filepath.Join(dir, id+ext),
		Lung:    filepath.Join(dir, id+"_lung"+ext),
		Sidecar: filepath.Join(dir, id+".json"),
	}
}

// Write stores p in dir as <id>.nii.gz (int16 HU), <id>_lung.nii.gz (uint8
// mask) and <id>.json (provenance), each atomically; the sidecar is written
// last so that its presence means the volumes are complete. gzipLevel 0 is
// the default level (1), 1–9 a zlib level, NoGzip writes uncompressed .nii.
func (p *Preprocessed) Write(dir string, gzipLevel int) (Paths, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Paths{}, err
	}
	ps := OutputPaths(dir, p.ID, gzipLevel)
	if gzipLevel == NoGzip {
		gzipLevel = 0
	}
	t := time.Now()
	if err := volio.WriteNIfTI(ps.HU, p.HU, volio.NIfTIOptions{Description: "lungctl HU", GzipLevel: gzipLevel}); err != nil {
		return ps, err
	}
	if p.Lung == nil {
		ps.Lung = ""
	} else {
		if err := volio.WriteNIfTI(ps.Lung, p.Lung, volio.NIfTIOptions{Description: "lungctl lung mask", GzipLevel: gzipLevel}); err != nil {
			return ps, err
		}
	}
	p.Seconds["write"] = sinceSec(t)
	p.Sidecar.Output = ps.HU
	if err := volio.WriteSidecar(ps.Sidecar, p.Sidecar); err != nil {
		return ps, err
	}
	return ps, nil
}

// LoadVolumes reads a scan for detection: a preprocess output (NIfTI with its
// _lung mask beside it, or maskPath) is used as is; anything else is
// preprocessed in memory.
func LoadVolumes(in, maskPath string, opt PreprocessOptions, ws *Workspace) (*Preprocessed, error) {
	kind, err := KindOf(in)
	if err != nil {
		return nil, err
	}
	if kind != NIfTI {
		return Preprocess(in, opt, ws)
	}
	if maskPath == "" {
		for _, ext := range []string{".nii.gz", ".nii"} {
			cand := filepath.Join(filepath.Dir(in), ScanID(in)+"_lung"+ext)
			if _, err := os.Stat(cand); err == nil {
				maskPath = cand
				break
			}
		}
	}
	if maskPath == "" {
		return Preprocess(in, opt, ws)
	}
	o := opt
	o.NoMask = true
	p, err := Preprocess(in, o, ws)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	m, err := volio.ReadMask(maskPath)
	if err != nil {
		return nil, err
	}
	if m.Grid.Dims != p.HU.Grid.Dims {
		return nil, fmt.Errorf("%s: mask dims %v differ from volume dims %v (%s)", maskPath, m.Dims, p.HU.Dims, in)
	}
	// The same size is not the same grid: a mask shifted or scaled would
	// mark the wrong voxels (detect refused it without naming the mask).
	if !sameGrid(m.Grid, p.HU.Grid) {
		return nil, fmt.Errorf("%s: mask grid (origin %v, spacing %v mm) is not the volume's (origin %v, spacing %v mm; %s)",
			maskPath, m.Origin, m.Spacing, p.HU.Origin, p.HU.Spacing, in)
	}
	p.Lung = m
	p.Seconds["load_mask"] = sinceSec(t)
	return p, nil
}

// CandidatesFor returns the rows of cs that belong to p's scan (matched by
// series UID or by scan id), for candidate files that hold several scans.
func (p *Preprocessed) CandidatesFor(cs []candidate.Candidate) []candidate.Candidate {
	var mine []candidate.Candidate
	for _, c := range cs {
		if c.SeriesUID == p.SeriesUID || c.SeriesUID == p.ID {
			mine = append(mine, c)
		}
	}
	return mine
}

// sameGrid reports whether a and b have the same dims, origins and
// directions equal to 0.001 and spacings to 0.0001 (mm; NIfTI stores them
// as float32), the tolerances detect checks its inputs with.
func sameGrid(a, b volume.Grid) bool {
	if a.Dims != b.Dims {
		return false
	}
	for i := 0; i < 3; i++ {
		if math.Abs(a.Origin[i]-b.Origin[i]) > 1e-3 || math.Abs(a.Spacing[i]-b.Spacing[i]) > 1e-4 {
			return false
		}
		for j := 0; j < 3; j++ {
			if math.Abs(a.Direction[i][j]-b.Direction[i][j]) > 1e-3 {
				return false
			}
		}
	}
	return true
}
