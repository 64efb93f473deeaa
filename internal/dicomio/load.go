// Package dicomio finds, groups, sorts and decodes DICOM CT series into a
// Hounsfield-unit volume placed in LPS world millimetres.
//
// Policies (also in the README):
//   - Files are found recursively under a folder; any name, with or without
//     .dcm. Files that are not DICOM are skipped and listed in Warnings.
//   - Slices are sorted by ImagePositionPatient projected on the slice
//     normal (row × column of ImageOrientationPatient), never by file name
//     or InstanceNumber.
//   - Duplicate positions (closer than 0.01 mm along the normal): when the
//     pixel data are byte-identical one copy is kept and a warning added;
//     when they differ the load fails with ErrDuplicateSlice naming both
//     files (two acquisitions mixed in one series cannot be told apart).
//   - Missing slices (a gap over 1.5× the median step) and uneven spacing
//     (steps differing by more than 0.01 mm) are warnings; Positions keep
//     the true slice positions for the resampler.
//   - Gantry tilt: positions offset off the normal are kept as they are;
//     Grid.Direction column 2 is the unit vector from the first to the last
//     position (not orthogonal to the slice plane) and a warning names the
//     tilt in degrees.
//   - Localizers (ImageType LOCALIZER) and slices whose plane differs by more
//     than 10° from the majority are dropped with a warning; smaller
//     differences in orientation, pixel spacing or matrix size are
//     ErrInconsistentGeometry.
//   - HU follow hounsfield.ToHU per slice (see that package for the rule).
package dicomio

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/volume"
)

// Sentinel errors a caller may act on; every returned error wraps one of
// them (or an I/O error) and names the file.
var (
	// ErrNotDICOM marks a file that is not DICOM (skipped during a folder load).
	ErrNotDICOM = errors.New("not a DICOM file")
	// ErrNoCTSeries means no loadable CT image series was found.
	ErrNoCTSeries = errors.New("no CT image series found")
	// ErrSeriesNotFound means Options.SeriesUID matched no series.
	ErrSeriesNotFound = errors.New("series not found")
	// ErrUnsupportedTransferSyntax names a transfer syntax whose pixel data
	// this package does not decode (JPEG baseline/extended, JPEG-LS, JPEG 2000, ...).
	ErrUnsupportedTransferSyntax = errors.New("unsupported transfer syntax")
	// ErrUnsupportedPixelFormat is a pixel module this package does not
	// decode (colour, 1-bit, unsigned 32-bit, ...).
	ErrUnsupportedPixelFormat = errors.New("unsupported pixel format")
	// ErrCorrupt marks a malformed or truncated file.
	ErrCorrupt = errors.New("corrupt DICOM file")
	// ErrInconsistentGeometry means the slices of a series disagree on
	// orientation, pixel spacing or matrix size, or lack positions.
	ErrInconsistentGeometry = errors.New("inconsistent series geometry")
	// ErrDuplicateSlice means two slices share a position but differ in pixels.
	ErrDuplicateSlice = errors.New("duplicate slice position with different pixel data")
)

// SeriesInfo describes one image series found in a folder.
type SeriesInfo struct {
	UID          string // SeriesInstanceUID
	PatientID    string
	StudyUID     string // StudyInstanceUID
	Modality     string // e.g. CT
	Description  string // SeriesDescription
	Manufacturer string
	// NumSlices is the number of image slices (frames) that would be
	// stacked: localizers and off-plane images excluded.
	NumSlices int
	// Rows, Cols are the in-plane matrix size in pixels.
	Rows, Cols int
	// Orientation is "axial", "coronal", "sagittal" or "oblique" (from the
	// slice normal), "" when the images carry no orientation.
	Orientation string
	// TransferSyntax is the transfer syntax UID of the first file.
	TransferSyntax string
	// Files lists the series' files (all of them, localizers included), sorted by path.
	Files []string
}

// Options selects what Load loads.
type Options struct {
	// SeriesUID picks a series by SeriesInstanceUID (any modality); "" picks
	// the axial CT series with the most slices (any CT series when none is
	// axial).
	SeriesUID string
	// AllowNonCT lets Load pick and decode non-CT image series (values are
	// then modality-rescaled values, not HU). Off by default.
	AllowNonCT bool
	// Reuse, when non-nil and its Data has capacity for the series, receives
	// the HU voxels (its Grid is overwritten) and is returned as Scan.HU, so
	// batch loads need not touch fresh memory for every scan.
	Reuse *volume.Volume[int16]
}

// Scan is a loaded series.
type Scan struct {
	// HU is the slice stack in HU, slices in ascending position along the
	// slice normal. Grid.Direction column 0 = IOP row direction, column 1 =
	// IOP column direction, column 2 = unit vector from the first to the last
	// slice position (not orthogonal under gantry tilt); Spacing[0] = column
	// spacing, Spacing[1] = row spacing (mm), Spacing[2] = mean slice step
	// (mm); Origin = Positions[0].
	HU *volume.Volume[int16]
	// Positions[k] is slice k's ImagePositionPatient in LPS mm.
	Positions []volume.Vec3
	// Info describes the loaded series.
	Info SeriesInfo
	// Warnings lists what was odd but not fatal (skipped files, gaps, tilt, ...).
	Warnings []string
}

// listFiles returns every regular file under dir (recursively), sorted.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// parseAll parses files in parallel. It returns the parsed headers and, per
// file that failed, its error (non-DICOM files included).
func parseAll(files []string) ([]*header, []error) {
	hs := make([]*header, len(files))
	errs := make([]error, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []byte
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(files) {
					return
				}
				hs[i], errs[i] = readHeaderFile(files[i], &scratch)
			}
		}()
	}
	wg.Wait()
	return hs, errs
}

// series is the files of one SeriesInstanceUID after parsing.
type series struct {
	info    SeriesInfo
	headers []*header
	failed  []error // DICOM files of this series that could not be parsed
}

// group collects parsed headers by series. Files that failed to parse are
// returned in skipped (as warnings) when not DICOM, in bad otherwise.
func group(files []string, hs []*header, errs []error) (m map[string]*series, skipped []string, bad, notDICOM []error) {
	m = map[string]*series{}
	for i, h := range hs {
		if errs[i] != nil {
			if errors.Is(errs[i], ErrNotDICOM) {
				skipped = append(skipped, fmt.Sprintf("skipped non-DICOM file %s", files[i]))
				notDICOM = append(notDICOM, errs[i])
			} else {
				bad = append(bad, errs[i])
			}
			continue
		}
		if !h.hasPixelData || h.rows == 0 {
			skipped = append(skipped, fmt.Sprintf("skipped %s: DICOM without image pixel data", h.path))
			notDICOM = append(notDICOM, fmt.Errorf("dicomio: %s: DICOM without image pixel data (%s)", h.path, h.sopClass))
			continue
		}
		s := m[h.seriesUID]
		if s == nil {
			s = &series{info: SeriesInfo{UID: h.seriesUID, PatientID: h.patientID, StudyUID: h.studyUID,
				Modality: h.modality, Description: h.description, Manufacturer: h.manufacturer,
				Rows: h.rows, Cols: h.cols, TransferSyntax: h.tsUID}}
			m[h.seriesUID] = s
		}
		s.headers = append(s.headers, h)
		s.info.Files = append(s.info.Files, h.path)
	}
	for _, s := range m {
		sl, _, _ := s.stackable()
		s.info.NumSlices = len(sl)
		if len(sl) > 0 {
			s.info.Orientation = orientationName(sl[0].normal)
		}
	}
	return m, skipped, bad, notDICOM
}

// sliceRef is one frame of one file, with its geometry.
type sliceRef struct {
	h      *header
	frame  int
	g      frameGeom
	normal [3]float64
	pos    float64 // IPP · normal
}

// stackable returns the slices of a series that belong in the stack
// (localizers and off-plane images removed), with warnings about what was
// dropped. The error is ErrInconsistentGeometry for small disagreements.
func (s *series) stackable() ([]sliceRef, []string, error) {
	var warns []string
	var all []sliceRef
	for _, h := range s.headers {
		if h.isLocalizer() {
			warns = append(warns, fmt.Sprintf("dropped localizer %s", h.path))
			continue
		}
		for f := range h.frames {
			g := h.frames[f]
			r := sliceRef{h: h, frame: f, g: g}
			if g.hasIOP {
				r.normal = cross3(g.iop)
			}
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return nil, warns, nil
	}
	// Majority orientation: count slices whose normals agree within 10°.
	best, bestN := 0, -1
	for i := range all {
		n := 0
		for j := range all {
			if sameplane(all[i], all[j]) {
				n++
			}
		}
		if n > bestN {
			best, bestN = i, n
		}
		if bestN > len(all)/2 {
			break
		}
	}
	ref := all[best]
	out := all[:0:0]
	for _, r := range all {
		if !sameplane(ref, r) {
			warns = append(warns, fmt.Sprintf("dropped %s frame %d: orientation unlike the rest of the series (scout or reformat)", r.h.path, r.frame))
			continue
		}
		r.pos = dot3(r.g.ipp, ref.normal)
		r.normal = ref.normal
		out = append(out, r)
	}
	return out, warns, nil
}

// sameplane reports whether two slices' normals are within 10° (either sign
// of missing orientation counts as agreeing only with missing orientation).
func sameplane(a, b sliceRef) bool {
	if a.g.hasIOP != b.g.hasIOP {
		return false
	}
	if !a.g.hasIOP {
		return true
	}
	return math.Abs(dot3(a.normal, b.normal)) > math.Cos(10*math.Pi/180)
}

func orientationName(n [3]float64) string {
	ax, ay, az := math.Abs(n[0]), math.Abs(n[1]), math.Abs(n[2])
	switch {
	case ax == 0 && ay == 0 && az == 0:
		return ""
	case az >= 0.9:
		return "axial"
	case ay >= 0.9:
		return "coronal"
	case ax >= 0.9:
		return "sagittal"
	}
	return "oblique"
}

// ScanDir lists the image series under dir (recursively, headers only), largest
// first. Files that are not DICOM or cannot be parsed are ignored. (The
// agreed name Scan is taken by the Scan type, hence ScanDir.)
func ScanDir(dir string) ([]SeriesInfo, error) {
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	hs, errs := parseAll(files)
	m, _, _, _ := group(files, hs, errs)
	out := make([]SeriesInfo, 0, len(m))
	for _, s := range m {
		out = append(out, s.info)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NumSlices != out[j].NumSlices {
			return out[i].NumSlices > out[j].NumSlices
		}
		return out[i].UID < out[j].UID
	})
	return out, nil
}

// Load reads the series under dir (recursively) chosen by opt and returns
// its HU volume; see the package comment for the policies.
func Load(dir string, opt Options) (*Scan, error) {
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dicomio: %s: %w: folder has no files", dir, ErrNoCTSeries)
	}
	return load(dir, files, opt)
}

// LoadFiles is Load over an explicit list of files (a single file is a
// one-slice series).
func LoadFiles(files []string, opt Options) (*Scan, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("dicomio: %w: no files given", ErrNoCTSeries)
	}
	return load(files[0], files, opt)
}

func load(where string, files []string, opt Options) (*Scan, error) {
	hs, errs := parseAll(files)
	m, skipped, bad, notDICOM := group(files, hs, errs)
	s, err := choose(where, m, bad, notDICOM, opt)
	if err != nil {
		return nil, err
	}
	sc, err := s.assemble(opt.Reuse)
	if err != nil {
		return nil, err
	}
	sc.Warnings = append(skipped, sc.Warnings...)
	for _, e := range bad {
		sc.Warnings = append(sc.Warnings, "unreadable file ignored: "+e.Error())
	}
	return sc, nil
}

// choose picks the series to load.
func choose(where string, m map[string]*series, bad, notDICOM []error, opt Options) (*series, error) {
	if opt.SeriesUID != "" {
		if s := m[opt.SeriesUID]; s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("dicomio: %s: %w: %s", where, ErrSeriesNotFound, opt.SeriesUID)
	}
	var best *series
	score := func(s *series) int {
		n := s.info.NumSlices
		if s.info.Orientation == "axial" {
			n += 1 << 24 // axial-ish series first
		}
		return n
	}
	for _, s := range m {
		if s.info.Modality != "CT" && !opt.AllowNonCT || s.info.NumSlices == 0 {
			continue
		}
		if best == nil || score(s) > score(best) || score(s) == score(best) && s.info.UID < best.info.UID {
			best = s
		}
	}
	if best == nil {
		if len(bad) > 0 {
			// Nothing loadable, and some DICOM files failed: report the first.
			return nil, fmt.Errorf("%w (and %w)", bad[0], ErrNoCTSeries)
		}
		for _, s := range m {
			if s.info.NumSlices == 0 {
				return nil, fmt.Errorf("dicomio: %s: %w: series %s has only localizers", s.info.Files[0], ErrNoCTSeries, s.info.UID)
			}
			if s.info.Modality != "CT" {
				return nil, fmt.Errorf("dicomio: %s: %w: series %s is %s (set AllowNonCT to load it)", s.info.Files[0], ErrNoCTSeries, s.info.UID, s.info.Modality)
			}
		}
		if len(notDICOM) > 0 {
			return nil, fmt.Errorf("dicomio: %s: %w: %w", where, ErrNoCTSeries, notDICOM[0])
		}
		return nil, fmt.Errorf("dicomio: %s: %w", where, ErrNoCTSeries)
	}
	return best, nil
}

// assemble checks, sorts and decodes a series into a Scan.
func (s *series) assemble(reuse *volume.Volume[int16]) (*Scan, error) {
	sl, warns, err := s.stackable()
	if err != nil {
		return nil, err
	}
	if len(sl) == 0 {
		return nil, fmt.Errorf("dicomio: series %s: %w: only localizers", s.info.UID, ErrNoCTSeries)
	}
	first := sl[0]
	for _, r := range sl {
		if err := r.h.checkPixelFormat(); err != nil {
			return nil, err
		}
	}
	// Consistency: matrix, spacing, orientation, positions.
	for _, r := range sl {
		h := r.h
		if h.rows != first.h.rows || h.cols != first.h.cols {
			return nil, fmt.Errorf("dicomio: %s: %w: %d×%d pixels, %s has %d×%d", h.path, ErrInconsistentGeometry, h.cols, h.rows, first.h.path, first.h.cols, first.h.rows)
		}
		if r.g.hasSpacing != first.g.hasSpacing || math.Abs(r.g.spacing[0]-first.g.spacing[0]) > 1e-4 || math.Abs(r.g.spacing[1]-first.g.spacing[1]) > 1e-4 {
			return nil, fmt.Errorf("dicomio: %s: %w: pixel spacing %v mm, %s has %v mm", h.path, ErrInconsistentGeometry, r.g.spacing, first.h.path, first.g.spacing)
		}
		for c := 0; c < 6; c++ {
			if math.Abs(r.g.iop[c]-first.g.iop[c]) > 1e-3 {
				return nil, fmt.Errorf("dicomio: %s: %w: ImageOrientationPatient %v, %s has %v", h.path, ErrInconsistentGeometry, r.g.iop, first.h.path, first.g.iop)
			}
		}
		if len(sl) > 1 && !r.g.hasIPP {
			return nil, fmt.Errorf("dicomio: %s: %w: no ImagePositionPatient, cannot order %d slices", h.path, ErrInconsistentGeometry, len(sl))
		}
	}
	sort.SliceStable(sl, func(i, j int) bool { return sl[i].pos < sl[j].pos })

	// Duplicates.
	uniq := sl[:1]
	for _, r := range sl[1:] {
		prev := uniq[len(uniq)-1]
		if math.Abs(r.pos-prev.pos) < 0.01 {
			var sa, sb []byte
			a, errA := prev.h.readFrame(prev.frame, &sa)
			b, errB := r.h.readFrame(r.frame, &sb)
			if errA == nil && errB == nil && bytes.Equal(a, b) && prev.g.slope == r.g.slope && prev.g.intercept == r.g.intercept {
				warns = append(warns, fmt.Sprintf("duplicate slice at %.3f mm: %s is identical to %s, kept one", r.pos, r.h.path, prev.h.path))
				continue
			}
			return nil, fmt.Errorf("dicomio: %s: %w: %s is at the same position %.3f mm", r.h.path, ErrDuplicateSlice, prev.h.path, r.pos)
		}
		uniq = append(uniq, r)
	}
	sl = uniq
	n := len(sl)

	// Geometry.
	g := volume.Grid{Dims: [3]int{first.h.cols, first.h.rows, n}}
	if first.g.hasSpacing && first.g.spacing[0] > 0 && first.g.spacing[1] > 0 {
		g.Spacing = volume.Vec3{first.g.spacing[1], first.g.spacing[0], 1}
	} else {
		g.Spacing = volume.Vec3{1, 1, 1}
		warns = append(warns, fmt.Sprintf("%s: no PixelSpacing, assuming 1 mm", first.h.path))
	}
	iop := first.g.iop
	if !first.g.hasIOP {
		iop = [6]float64{1, 0, 0, 0, 1, 0}
		warns = append(warns, fmt.Sprintf("%s: no ImageOrientationPatient, assuming axial", first.h.path))
	}
	if !first.g.hasIPP {
		warns = append(warns, fmt.Sprintf("%s: no ImagePositionPatient, placing the slice at the origin", first.h.path))
	}
	row := unit([3]float64{iop[0], iop[1], iop[2]})
	col := unit([3]float64{iop[3], iop[4], iop[5]})
	normal := unit(cross3(iop))
	positions := make([]volume.Vec3, n)
	for k, r := range sl {
		positions[k] = volume.Vec3(r.g.ipp)
	}
	slice := normal
	if n > 1 {
		d := sub3(positions[n-1], positions[0])
		l := math.Sqrt(dot3(d, d))
		if l < 1e-6 {
			return nil, fmt.Errorf("dicomio: %s: %w: first and last slice at the same position", sl[n-1].h.path, ErrInconsistentGeometry)
		}
		slice = [3]float64{d[0] / l, d[1] / l, d[2] / l}
		g.Spacing[2] = l / float64(n-1)
		tilt := math.Acos(math.Min(1, math.Abs(dot3(slice, normal)))) * 180 / math.Pi
		if tilt > 0.05 || math.Abs(first.h.gantryTilt) > 0.05 {
			warns = append(warns, fmt.Sprintf("gantry tilt: slice positions run %.2f° off the slice normal (GantryDetectorTilt %.2f°); positions kept, the grid is sheared and resampling corrects it", tilt, first.h.gantryTilt))
		}
		steps := make([]float64, n-1)
		for k := range steps {
			steps[k] = sl[k+1].pos - sl[k].pos
		}
		sorted := append([]float64(nil), steps...)
		sort.Float64s(sorted)
		med := sorted[len(sorted)/2]
		if sorted[len(sorted)-1]-sorted[0] > 0.01 {
			warns = append(warns, fmt.Sprintf("uneven slice spacing: steps %.3f … %.3f mm (median %.3f mm); true positions kept", sorted[0], sorted[len(sorted)-1], med))
		}
		var gaps []string
		nGaps := 0
		for k, st := range steps {
			if st > 1.5*med {
				nGaps++
				if len(gaps) < 3 {
					gaps = append(gaps, fmt.Sprintf("%.3f mm between %s and %s", st, sl[k].h.path, sl[k+1].h.path))
				}
			}
		}
		if nGaps > 0 {
			more := ""
			if nGaps > len(gaps) {
				more = fmt.Sprintf("; and %d more", nGaps-len(gaps))
			}
			warns = append(warns, fmt.Sprintf("missing slices? %d gap(s) over 1.5× the median step %.3f mm: %s%s", nGaps, med, strings.Join(gaps, "; "), more))
		}
	} else if first.h.sliceThickness > 0 {
		g.Spacing[2] = first.h.sliceThickness
	}
	for r := 0; r < 3; r++ {
		g.Direction[r] = [3]float64{row[r], col[r], slice[r]}
	}
	g.Origin = positions[0]
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w: %w", first.h.path, ErrInconsistentGeometry, err)
	}
	noRescale := 0
	for _, r := range sl {
		if !r.g.hasRescale {
			noRescale++
		}
	}
	if noRescale > 0 {
		warns = append(warns, fmt.Sprintf("%d of %d slices have no RescaleSlope/RescaleIntercept: assumed slope 1, intercept 0", noRescale, n))
	}

	var vol *volume.Volume[int16]
	if reuse != nil && cap(reuse.Data) >= g.Len() {
		vol = reuse
		vol.Grid, vol.Data = g, vol.Data[:g.Len()]
	} else {
		vol = &volume.Volume[int16]{Grid: g, Data: make([]int16, g.Len())}
		adviseHuge(vol.Data)
	}
	if err := decodeAll(sl, vol); err != nil {
		return nil, err
	}
	info := s.info
	info.NumSlices = n
	info.Orientation = orientationName(normal)
	return &Scan{HU: vol, Positions: positions, Info: info, Warnings: warns}, nil
}

// decodeAll decodes every slice into vol in parallel; each worker reuses one
// []int32 buffer.
func decodeAll(sl []sliceRef, vol *volume.Volume[int16]) error {
	plane := vol.Dims[0] * vol.Dims[1]
	workers := min(runtime.GOMAXPROCS(0), len(sl))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]int32, plane)
			var scratch []byte
			for {
				mu.Lock()
				k := next
				next++
				stop := firstErr != nil
				mu.Unlock()
				if k >= len(sl) || stop {
					return
				}
				r := sl[k]
				err := safeDecode(r, buf, &scratch)
				if err == nil {
					resc, _ := r.h.rescale(r.frame)
					hounsfield.ToHU(vol.Data[k*plane:(k+1)*plane], buf, resc)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// safeDecode decodes one frame, converting a decoder panic into ErrCorrupt.
func safeDecode(r sliceRef, buf []int32, scratch *[]byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dicomio: %s: %w: decoder failure: %v", r.h.path, ErrCorrupt, p)
		}
	}()
	return r.h.decodeFrame(r.frame, buf, scratch)
}

func cross3(iop [6]float64) [3]float64 {
	a := [3]float64{iop[0], iop[1], iop[2]}
	b := [3]float64{iop[3], iop[4], iop[5]}
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func dot3(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func sub3(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func unit(a [3]float64) [3]float64 {
	l := math.Sqrt(dot3(a, a))
	if l == 0 {
		return a
	}
	return [3]float64{a[0] / l, a[1] / l, a[2] / l}
}
