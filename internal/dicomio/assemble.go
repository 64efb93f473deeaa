package dicomio

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

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
// dropped.
func (s *series) stackable() ([]sliceRef, []warn.Warning) {
	var warns []warn.Warning
	var all []sliceRef
	for _, h := range s.headers {
		if h.isLocalizer() {
			warns = append(warns, warn.New(warn.DroppedLocalizer, h.path, fmt.Sprintf("dropped localizer %s", h.path)))
			continue
		}
		for f := range h.frames {
			g := h.frames[f]
			r := sliceRef{h: h, frame: f, g: g}
			if g.hasIOP && g.bad == "" {
				r.normal = cross3(g.iop)
			}
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return nil, warns
	}
	// Majority orientation: group the normals into planes (within 10° of a
	// group's first slice) and take the largest group. Planes 10° apart are
	// few, so this is linear in the slices, whatever a file claims.
	type plane struct {
		ref sliceRef
		n   int
	}
	var planes []plane
	for _, r := range all {
		found := false
		for p := range planes {
			if sameplane(planes[p].ref, r) {
				planes[p].n++
				found = true
				break
			}
		}
		if !found {
			planes = append(planes, plane{ref: r, n: 1})
		}
	}
	best := 0
	for p := range planes {
		if planes[p].n > planes[best].n {
			best = p
		}
	}
	ref := planes[best].ref
	out := all[:0:0]
	for _, r := range all {
		if !sameplane(ref, r) {
			warns = append(warns, warn.New(warn.DroppedOffPlane, r.h.path, fmt.Sprintf("dropped %s frame %d: orientation unlike the rest of the series (scout or reformat)", r.h.path, r.frame)))
			continue
		}
		r.pos = dot3(r.g.ipp, ref.normal)
		r.normal = ref.normal
		out = append(out, r)
	}
	return out, warns
}

// sameplane reports whether two slices' normals are within 10° (either sign
// of missing orientation counts as agreeing only with missing orientation).
func sameplane(a, b sliceRef) bool {
	ha, hb := a.normal != [3]float64{}, b.normal != [3]float64{}
	if ha != hb {
		return false
	}
	if !ha {
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

// checkOneSource refuses a series whose files name different patients or
// studies: stacking them would interleave two people's slices.
func (s *series) checkOneSource(where string) error {
	first := s.headers[0]
	for _, h := range s.headers[1:] {
		if h.patientID != first.patientID {
			return fmt.Errorf("dicomio: %s: %w: series %s holds patient %q (%s) and patient %q (%s); move one patient's files to another folder",
				where, ErrMixedSeries, s.info.UID, first.patientID, first.path, h.patientID, h.path)
		}
		if h.studyUID != first.studyUID {
			return fmt.Errorf("dicomio: %s: %w: series %s holds study %s (%s) and study %s (%s); move one study's files to another folder",
				where, ErrMixedSeries, s.info.UID, first.studyUID, first.path, h.studyUID, h.path)
		}
	}
	return nil
}

// assemble checks, sorts and decodes a series into a Scan.
func (s *series) assemble(where string, reuse *volume.Volume[int16]) (*Scan, error) {
	if err := s.checkOneSource(where); err != nil {
		return nil, err
	}
	if err := s.checkAttributes(); err != nil {
		return nil, err
	}
	sl, warns := s.stackable()
	if len(sl) == 0 {
		return nil, fmt.Errorf("dicomio: series %s: %w: only localizers", s.info.UID, ErrNoCTSeries)
	}
	first := sl[0]
	if err := checkSlices(sl); err != nil {
		return nil, err
	}
	sort.SliceStable(sl, func(i, j int) bool { return sl[i].pos < sl[j].pos })
	// What the slices claim, before any of it is read or allocated.
	what := fmt.Sprintf("dicomio: %s: series %s (%d files, first %s): %d slices of %d×%d pixels",
		where, s.info.UID, len(s.headers), first.h.path, len(sl), first.h.cols, first.h.rows)
	if err := membudget.Check(what, membudget.Mul(int64(first.h.cols), int64(first.h.rows), int64(len(sl)), 2)); err != nil {
		return nil, err
	}

	sl, warns, err := dropDuplicates(sl, warns)
	if err != nil {
		return nil, err
	}
	n := len(sl)

	g, positions, normal, gw, err := geometry(sl)
	if err != nil {
		return nil, err
	}
	warns = append(warns, gw...)
	noRescale := 0
	for _, r := range sl {
		if !r.g.hasRescale {
			noRescale++
		}
	}
	if noRescale > 0 {
		warns = append(warns, warn.New(warn.Assumed, "", fmt.Sprintf("%d of %d slices have no RescaleSlope/RescaleIntercept: assumed slope 1, intercept 0", noRescale, n)))
	}

	vol, ok := volume.Reuse(reuse, g)
	if !ok {
		vol = &volume.Volume[int16]{Grid: g, Data: make([]int16, g.Len())}
		adviseHuge(vol.Data)
	}
	// A non-CT series (loaded on request) holds no HU: its clamped values
	// are only warned about.
	sat, err := decodeAll(sl, vol, s.info.Modality == "CT")
	if err != nil {
		return nil, err
	}
	if sat != nil {
		warns = append(warns, *sat)
	}
	info := s.info
	info.NumSlices = n
	info.Orientation = orientationName(normal)
	return &Scan{HU: vol, Positions: positions, Info: info, Warnings: warns}, nil
}

// checkAttributes refuses attributes that are present but unusable, with
// their value, before grouping by plane would misread them.
func (s *series) checkAttributes() error {
	for _, h := range s.headers {
		for f, g := range h.frames {
			if g.bad == "" {
				continue
			}
			fr := ""
			if h.numFrames > 1 {
				fr = fmt.Sprintf(" frame %d", f)
			}
			return fmt.Errorf("dicomio: %s%s: %w: %s", h.path, fr, ErrInconsistentGeometry, g.bad)
		}
	}
	return nil
}

// checkSlices checks every stackable slice's pixel format and rescale, and
// that matrix, spacing, orientation and positions agree with the first.
func checkSlices(sl []sliceRef) error {
	first := sl[0]
	for _, r := range sl {
		if err := r.h.checkPixelFormat(); err != nil {
			return err
		}
		if resc, _ := r.h.rescale(r.frame); resc.Validate() != nil {
			fr := ""
			if r.h.numFrames > 1 {
				fr = fmt.Sprintf(" frame %d", r.frame)
			}
			return fmt.Errorf("dicomio: %s%s: %w", r.h.path, fr, resc.Validate())
		}
	}
	// Consistency: matrix, spacing, orientation, positions.
	for _, r := range sl {
		h := r.h
		if h.rows != first.h.rows || h.cols != first.h.cols {
			return fmt.Errorf("dicomio: %s: %w: %d×%d pixels, %s has %d×%d", h.path, ErrInconsistentGeometry, h.cols, h.rows, first.h.path, first.h.cols, first.h.rows)
		}
		if r.g.hasSpacing != first.g.hasSpacing || math.Abs(r.g.spacing[0]-first.g.spacing[0]) > 1e-4 || math.Abs(r.g.spacing[1]-first.g.spacing[1]) > 1e-4 {
			return fmt.Errorf("dicomio: %s: %w: pixel spacing %v mm, %s has %v mm", h.path, ErrInconsistentGeometry, r.g.spacing, first.h.path, first.g.spacing)
		}
		for c := 0; c < 6; c++ {
			if math.Abs(r.g.iop[c]-first.g.iop[c]) > 1e-3 {
				return fmt.Errorf("dicomio: %s: %w: ImageOrientationPatient %v, %s has %v", h.path, ErrInconsistentGeometry, r.g.iop, first.h.path, first.g.iop)
			}
		}
		if len(sl) > 1 && !r.g.hasIPP {
			return fmt.Errorf("dicomio: %s: %w: no ImagePositionPatient, cannot order %d slices", h.path, ErrInconsistentGeometry, len(sl))
		}
	}
	return nil
}

// dropDuplicates keeps one of each run of slices at the same position
// (sorted sl) when their pixels and rescale are identical, with a warning;
// different slices at one position are an error.
func dropDuplicates(sl []sliceRef, warns []warn.Warning) ([]sliceRef, []warn.Warning, error) {
	var fr frameReader
	defer fr.close()
	uniq := sl[:1]
	for _, r := range sl[1:] {
		prev := uniq[len(uniq)-1]
		if math.Abs(r.pos-prev.pos) < 0.01 {
			a, err := fr.frame(prev.h, prev.frame)
			if err != nil {
				return nil, nil, err
			}
			a = bytes.Clone(a)
			b, err := fr.frame(r.h, r.frame)
			if err != nil {
				return nil, nil, err
			}
			if bytes.Equal(a, b) && prev.g.slope == r.g.slope && prev.g.intercept == r.g.intercept {
				warns = append(warns, warn.New(warn.DuplicateSlice, r.h.path, fmt.Sprintf("duplicate slice at %.3f mm: %s is identical to %s, kept one", r.pos, r.h.path, prev.h.path)))
				continue
			}
			return nil, nil, fmt.Errorf("dicomio: %s: %w: %s is at the same position %.3f mm", r.h.path, ErrDuplicateSlice, prev.h.path, r.pos)
		}
		uniq = append(uniq, r)
	}
	return uniq, warns, nil
}

// geometry builds the stack's grid and positions from the sorted slices,
// with warnings about gaps, uneven steps, tilt and assumed attributes.
func geometry(sl []sliceRef) (volume.Grid, []volume.Vec3, [3]float64, []warn.Warning, error) {
	var warns []warn.Warning
	first := sl[0]
	n := len(sl)
	g := volume.Grid{Dims: [3]int{first.h.cols, first.h.rows, n}}
	if first.g.hasSpacing {
		g.Spacing = volume.Vec3{first.g.spacing[1], first.g.spacing[0], 1}
	} else {
		g.Spacing = volume.Vec3{1, 1, 1}
		warns = append(warns, warn.New(warn.Assumed, first.h.path, fmt.Sprintf("%s: no PixelSpacing, assuming 1 mm", first.h.path)))
	}
	iop := first.g.iop
	if !first.g.hasIOP {
		iop = [6]float64{1, 0, 0, 0, 1, 0}
		warns = append(warns, warn.New(warn.Assumed, first.h.path, fmt.Sprintf("%s: no ImageOrientationPatient, assuming axial", first.h.path)))
	}
	if !first.g.hasIPP {
		warns = append(warns, warn.New(warn.Assumed, first.h.path, fmt.Sprintf("%s: no ImagePositionPatient, placing the slice at the origin", first.h.path)))
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
			return g, nil, normal, nil, fmt.Errorf("dicomio: %s: %w: first and last slice at the same position", sl[n-1].h.path, ErrInconsistentGeometry)
		}
		slice = [3]float64{d[0] / l, d[1] / l, d[2] / l}
		g.Spacing[2] = l / float64(n-1)
		tilt := math.Acos(math.Min(1, math.Abs(dot3(slice, normal)))) * 180 / math.Pi
		if tilt > 0.05 || math.Abs(first.h.gantryTilt) > 0.05 {
			warns = append(warns, warn.New(warn.GantryTilt, "", fmt.Sprintf("gantry tilt: slice positions run %.2f° off the slice normal (GantryDetectorTilt %.2f°); positions kept, the grid is sheared and resampling corrects it", tilt, first.h.gantryTilt)))
		}
		steps := make([]float64, n-1)
		for k := range steps {
			steps[k] = sl[k+1].pos - sl[k].pos
		}
		sorted := append([]float64(nil), steps...)
		sort.Float64s(sorted)
		med := sorted[len(sorted)/2]
		if sorted[len(sorted)-1]-sorted[0] > 0.01 {
			warns = append(warns, warn.New(warn.UnevenSpacing, "", fmt.Sprintf("uneven slice spacing: steps %.3f … %.3f mm (median %.3f mm); true positions kept", sorted[0], sorted[len(sorted)-1], med)))
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
			warns = append(warns, warn.New(warn.SliceGap, "", fmt.Sprintf("missing slices? %d gap(s) over 1.5× the median step %.3f mm: %s%s", nGaps, med, strings.Join(gaps, "; "), more)))
		}
	} else if first.h.sliceThickness > 0 {
		g.Spacing[2] = first.h.sliceThickness
	}
	for r := 0; r < 3; r++ {
		g.Direction[r] = [3]float64{row[r], col[r], slice[r]}
	}
	g.Origin = positions[0]
	if err := g.Validate(); err != nil {
		return g, nil, normal, nil, fmt.Errorf("dicomio: %s: %w: %w", first.h.path, ErrInconsistentGeometry, err)
	}
	return g, positions, normal, warns, nil
}

// decodeAll decodes every slice into vol in parallel under internal/par's
// budget; each worker reuses one []int32 buffer and one frameReader. The
// error returned is the first slice's in stack order, so it does not depend
// on scheduling. Voxels clamped to the int16 HU range give a warning naming
// the first slice that has any, or, beyond hounsfield.MaxSaturated of the
// volume of a CT series (ct), an error (hounsfield.ErrSaturated) naming it.
func decodeAll(sl []sliceRef, vol *volume.Volume[int16], ct bool) (*warn.Warning, error) {
	plane := vol.Dims[0] * vol.Dims[1]
	workers := min(par.Limit(), len(sl))
	if err := membudget.Check(fmt.Sprintf("dicomio: %s: decode buffers (%d workers, %d pixels a slice)", sl[0].h.path, workers, plane),
		membudget.Mul(int64(workers), int64(plane), 4+2)); err != nil {
		return nil, err
	}
	clamped := make([]int, len(sl))
	bufs := make([][]int32, par.Limit())
	readers := make([]frameReader, par.Limit())
	errs := make([]error, len(sl))
	var failed atomic.Bool
	par.For(len(sl), func(w, k int) {
		if failed.Load() {
			return
		}
		if bufs[w] == nil {
			bufs[w] = make([]int32, plane)
		}
		r := sl[k]
		err := safeDecode(r, &readers[w], bufs[w])
		if err == nil {
			resc, _ := r.h.rescale(r.frame)
			dst := vol.Data[k*plane : (k+1)*plane]
			if r.h.unsigned32() {
				u := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(bufs[w]))), plane)
				clamped[k], err = hounsfield.ToHU(dst, u, resc)
			} else {
				clamped[k], err = hounsfield.ToHU(dst, bufs[w], resc)
			}
			if err != nil {
				err = fmt.Errorf("dicomio: %s: %w", r.h.path, err)
			}
		}
		if err != nil {
			errs[k] = err
			failed.Store(true)
		}
	})
	for w := range readers {
		readers[w].close()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	total, first := 0, -1
	for k, c := range clamped {
		if c > 0 && first < 0 {
			first = k
		}
		total += c
	}
	if first < 0 {
		return nil, nil
	}
	r := sl[first]
	resc, _ := r.h.rescale(r.frame)
	msg, err := hounsfield.Saturation(total, len(vol.Data))
	if err != nil {
		if ct {
			return nil, fmt.Errorf("dicomio: %s: %w (first in this file, RescaleSlope %g, RescaleIntercept %g)", r.h.path, err, resc.Slope, resc.Intercept)
		}
		msg = fmt.Sprintf("%d of %d voxels (%.3g%%) lie beyond the int16 range after rescale; clamped to it", total, len(vol.Data), 100*float64(total)/float64(len(vol.Data)))
	}
	w := warn.New(warn.Saturated, r.h.path, fmt.Sprintf("%s (first in %s, RescaleSlope %g, RescaleIntercept %g)", msg, r.h.path, resc.Slope, resc.Intercept))
	return &w, nil
}

// safeDecode decodes one frame, converting a decoder panic into ErrCorrupt.
func safeDecode(r sliceRef, fr *frameReader, buf []int32) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dicomio: %s: %w: decoder failure: %v", r.h.path, ErrCorrupt, p)
		}
	}()
	return r.h.decodeFrame(fr, r.frame, buf)
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
