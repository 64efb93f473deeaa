package export

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/volume"
)

// SEGSeriesNumber and SRSeriesNumber are the Series Numbers of the new
// series WriteSEG and WriteSR (by default) create in the source study.
const (
	SEGSeriesNumber = 9001
	SRSeriesNumber  = 9002
)

// segFrame is one frame of the SEG: the pixels of one segment on one source
// slice, as a bitmap of Rows×Columns bits (pixel row*Columns+col at bit
// (p%8) of byte p/8).
type segFrame struct {
	segment int // segment number = finding rank
	slice   int // index into SeriesRefs.Slices
	bits    []byte
}

// WriteSEG writes the label volume as a DICOM Segmentation (Segmentation
// Storage, BINARY, Explicit VR Little Endian) into the source study: one
// segment per finding (segment number = Finding.Rank, label = its label,
// AUTOMATIC, algorithm "lungctl" with lungctl's version, category
// Morphologically Abnormal Structure, type Nodule, anatomic region Lung),
// and frames on the SOURCE slices' geometry: each source slice's pixel
// centres are mapped to LPS world mm and the label volume is sampled there
// by nearest neighbour; a frame is written for each (segment, slice) pair
// with at least one pixel. Each frame references its source image
// (Derivation Image / Source Image), carries its ImagePositionPatient and
// segment number, and is indexed by the dimensions (segment number, slice
// position). The source series is referenced in Referenced Series
// Sequence; Study Instance UID, patient and study attributes are copied;
// new Series and SOP Instance UIDs are generated.
//
// labels is the label volume (voxel value = Finding.Rank, 0 = background)
// on any grid placed in LPS mm, typically lungctl's 1 mm grid; it must hold
// only values that are ranks of findings (ErrLabels otherwise). A finding
// whose label has no pixel on any source slice gets a segment without
// frames (Instance.EmptySegments); a segmentation with no pixel at all is
// ErrEmpty. A nil or empty src, or one whose geometry cannot be sampled, is
// ErrNoDICOMSource. The file is written atomically.
func WriteSEG(path string, src *dicomio.SeriesRefs, labels *volume.Volume[uint8], findings []Finding) (*Instance, error) {
	if err := checkSource(path, src, true); err != nil {
		return nil, err
	}
	byRank, err := checkFindings(findings)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	lo, hi, found, err := checkLabels(labels, byRank)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	if !found {
		return nil, fmt.Errorf("export: %s: %w: the label volume is all background", path, ErrEmpty)
	}
	frames := sampleFrames(src, labels, lo, hi)
	if len(frames) == 0 {
		return nil, fmt.Errorf("export: %s: %w: the labelled voxels lie between or outside the %d source slices", path, ErrEmpty, len(src.Slices))
	}
	inst := &Instance{Path: path, SOPClassUID: SegmentationStorage, SOPInstanceUID: newUID(),
		SeriesInstanceUID: newUID(), StudyInstanceUID: src.StudyInstanceUID, Frames: len(frames),
		TrackingUIDs: make(map[int]string, len(findings))}
	hasFrame := map[int]bool{}
	for _, fr := range frames {
		hasFrame[fr.segment] = true
	}
	for _, f := range findings {
		inst.TrackingUIDs[f.Rank] = newUID()
		if !hasFrame[f.Rank] {
			inst.EmptySegments = append(inst.EmptySegments, f.Rank)
		}
	}
	sort.Ints(inst.EmptySegments)
	es, err := segDataset(src, findings, frames, inst, time.Now())
	if err == nil {
		err = writeDICOM(path, es, inst.SOPClassUID, inst.SOPInstanceUID)
	}
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	return inst, nil
}

// sampleFrames samples the label volume at every pixel centre of every
// source slice that crosses the labels' bounding box [lo, hi] (voxel
// indices) and returns the non-empty frames, ordered by segment number, then
// slice position.
func sampleFrames(src *dicomio.SeriesRefs, labels *volume.Volume[uint8], lo, hi [3]int) []*segFrame {
	rows, cols := src.Rows, src.Columns
	row := volume.Vec3{src.Orientation[0], src.Orientation[1], src.Orientation[2]} // along a row: column index grows
	col := volume.Vec3{src.Orientation[3], src.Orientation[4], src.Orientation[5]} // along a column: row index grows
	normal := src.Normal()
	dr, dc := src.PixelSpacing[0], src.PixelSpacing[1]
	// m maps an LPS offset from the label origin to a continuous voxel index.
	inv := volume.Inverse3(labels.Direction)
	var m [3][3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			m[r][c] = inv[r][c] / labels.Spacing[r]
		}
	}
	apply := func(v volume.Vec3) volume.Vec3 {
		return volume.Vec3{
			m[0][0]*v[0] + m[0][1]*v[1] + m[0][2]*v[2],
			m[1][0]*v[0] + m[1][1]*v[1] + m[1][2]*v[2],
			m[2][0]*v[0] + m[2][1]*v[1] + m[2][2]*v[2],
		}
	}
	dj := apply(volume.Vec3{row[0] * dc, row[1] * dc, row[2] * dc}) // index step per column
	di := apply(volume.Vec3{col[0] * dr, col[1] * dr, col[2] * dr}) // index step per row
	// The world corners of the labelled box (half a voxel beyond the
	// extreme voxel centres).
	var corners [8]volume.Vec3
	for n := 0; n < 8; n++ {
		var idx volume.Vec3
		for a := 0; a < 3; a++ {
			if n>>a&1 == 0 {
				idx[a] = float64(lo[a]) - 0.5
			} else {
				idx[a] = float64(hi[a]) + 0.5
			}
		}
		corners[n] = labels.IndexToWorld(idx)
	}
	// Slack for a non-orthonormal orientation (in pixels and mm).
	const slackPx, slackMM = 2, 0.5
	nx, ny, nz := labels.Dims[0], labels.Dims[1], labels.Dims[2]
	byKey := map[[2]int]*segFrame{}
	for s, sl := range src.Slices {
		p := sl.Position
		minN, maxN := math.Inf(1), math.Inf(-1)
		minR, maxR, minC, maxC := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, w := range corners {
			d := volume.Vec3{w[0] - p[0], w[1] - p[1], w[2] - p[2]}
			n := d[0]*normal[0] + d[1]*normal[1] + d[2]*normal[2]
			c := (d[0]*row[0] + d[1]*row[1] + d[2]*row[2]) / dc
			r := (d[0]*col[0] + d[1]*col[1] + d[2]*col[2]) / dr
			minN, maxN = math.Min(minN, n), math.Max(maxN, n)
			minR, maxR = math.Min(minR, r), math.Max(maxR, r)
			minC, maxC = math.Min(minC, c), math.Max(maxC, c)
		}
		if minN > slackMM || maxN < -slackMM {
			continue // the slice plane misses the labelled box
		}
		i0, i1 := clampInt(math.Floor(minR)-slackPx, rows), clampInt(math.Ceil(maxR)+slackPx, rows)
		j0, j1 := clampInt(math.Floor(minC)-slackPx, cols), clampInt(math.Ceil(maxC)+slackPx, cols)
		base := apply(volume.Vec3{p[0] - labels.Origin[0], p[1] - labels.Origin[1], p[2] - labels.Origin[2]})
		for i := i0; i < i1; i++ {
			fi := float64(i)
			for j := j0; j < j1; j++ {
				fj := float64(j)
				x := math.Floor(base[0] + fj*dj[0] + fi*di[0] + 0.5)
				y := math.Floor(base[1] + fj*dj[1] + fi*di[1] + 0.5)
				z := math.Floor(base[2] + fj*dj[2] + fi*di[2] + 0.5)
				if !(x >= 0 && y >= 0 && z >= 0 && x < float64(nx) && y < float64(ny) && z < float64(nz)) {
					continue
				}
				v := labels.Data[int(x)+nx*(int(y)+ny*int(z))]
				if v == 0 {
					continue
				}
				key := [2]int{int(v), s}
				f := byKey[key]
				if f == nil {
					f = &segFrame{segment: int(v), slice: s, bits: make([]byte, (rows*cols+7)/8)}
					byKey[key] = f
				}
				px := i*cols + j
				f.bits[px>>3] |= 1 << (px & 7)
			}
		}
	}
	frames := make([]*segFrame, 0, len(byKey))
	for _, f := range byKey {
		frames = append(frames, f)
	}
	sort.Slice(frames, func(a, b int) bool {
		if frames[a].segment != frames[b].segment {
			return frames[a].segment < frames[b].segment
		}
		return frames[a].slice < frames[b].slice
	})
	return frames
}

// clampInt returns x as an int clamped to [0, n].
func clampInt(x float64, n int) int {
	switch {
	case !(x > 0):
		return 0
	case x > float64(n):
		return n
	}
	return int(x)
}

// packFrames concatenates the frames' bitmaps bit after bit, as BINARY
// segmentation pixel data are stored (no padding between frames), padded
// with zero bytes to an even length.
func packFrames(frames []*segFrame, pixels int) []byte {
	total := (len(frames)*pixels + 7) / 8
	out := make([]byte, total+total%2)
	for n, f := range frames {
		off := n * pixels
		if off%8 == 0 {
			copy(out[off/8:], f.bits[:(pixels+7)/8])
			continue
		}
		for p := 0; p < pixels; p++ {
			if f.bits[p>>3]>>(p&7)&1 != 0 {
				q := off + p
				out[q>>3] |= 1 << (q & 7)
			}
		}
	}
	return out
}

// segDataset builds the SEG's data set (without file meta information).
func segDataset(src *dicomio.SeriesRefs, findings []Finding, frames []*segFrame, inst *Instance, now time.Time) ([]*dicom.Element, error) {
	var b builder
	es := b.commonModules(src, inst.SOPClassUID, inst.SOPInstanceUID, now)
	posIndex := slicePositionIndex(frames)
	thickness := src.SliceThickness
	if !(thickness > 0) {
		thickness = sliceStep(src)
	}
	dimOrg := newUID()
	segments := b.segmentItems(findings, inst)
	perFrame := b.perFrameItems(src, frames, posIndex)
	refInstances := b.referencedInstances(src)
	pixData := b.el(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: packFrames(frames, src.Rows*src.Columns)})
	if pixData != nil {
		pixData.RawValueRepresentation = "OB"
	}
	es = append(es,
		// General Series and Segmentation Series modules.
		b.s(tag.Modality, "SEG"),
		b.s(tag.SeriesInstanceUID, inst.SeriesInstanceUID),
		b.s(tag.SeriesNumber, fmt.Sprint(SEGSeriesNumber)),
		b.s(tag.SeriesDescription, "lungctl nodule segmentation"),
		// Frame of Reference module.
		b.s(tag.FrameOfReferenceUID, src.FrameOfReferenceUID),
		b.s(tag.PositionReferenceIndicator, src.PositionReferenceIndicator),
		// General Image, Image Pixel and Segmentation Image modules.
		b.s(tag.ImageType, "DERIVED", "PRIMARY"),
		b.s(tag.LossyImageCompression, "00"),
		b.i(tag.SamplesPerPixel, 1),
		b.s(tag.PhotometricInterpretation, "MONOCHROME2"),
		b.i(tag.Rows, src.Rows),
		b.i(tag.Columns, src.Columns),
		b.i(tag.BitsAllocated, 1),
		b.i(tag.BitsStored, 1),
		b.i(tag.HighBit, 0),
		b.i(tag.PixelRepresentation, 0),
		b.s(tag.ContentLabel, "LUNGCTL_NODULES"),
		b.s(tag.ContentDescription, "lungctl nodule candidates"),
		b.s(tag.ContentCreatorName),
		b.s(tag.SegmentationType, "BINARY"),
		b.s(tag.SegmentsOverlap, "NO"),
		b.seq(tag.SegmentSequence, segments...),
		// Multi-frame Functional Groups and Multi-frame Dimension modules.
		b.s(tag.NumberOfFrames, fmt.Sprint(len(frames))),
		b.seq(tag.SharedFunctionalGroupsSequence, []*dicom.Element{
			b.seq(tag.PixelMeasuresSequence, []*dicom.Element{
				b.s(tag.PixelSpacing, formatDS(src.PixelSpacing[0]), formatDS(src.PixelSpacing[1])),
				b.s(tag.SliceThickness, formatDS(thickness)),
			}),
			b.seq(tag.PlaneOrientationSequence, []*dicom.Element{b.s(tag.ImageOrientationPatient, dsVec(src.Orientation[:])...)}),
		}),
		b.seq(tag.PerFrameFunctionalGroupsSequence, perFrame...),
		b.seq(tag.DimensionOrganizationSequence, []*dicom.Element{b.s(tag.DimensionOrganizationUID, dimOrg)}),
		b.seq(tag.DimensionIndexSequence,
			[]*dicom.Element{
				b.s(tag.DimensionOrganizationUID, dimOrg),
				b.i(tag.DimensionIndexPointer, int(tag.ReferencedSegmentNumber.Group), int(tag.ReferencedSegmentNumber.Element)),
				b.i(tag.FunctionalGroupPointer, int(tag.SegmentIdentificationSequence.Group), int(tag.SegmentIdentificationSequence.Element)),
				b.s(tag.DimensionDescriptionLabel, "Segment Number"),
			},
			[]*dicom.Element{
				b.s(tag.DimensionOrganizationUID, dimOrg),
				b.i(tag.DimensionIndexPointer, int(tag.ImagePositionPatient.Group), int(tag.ImagePositionPatient.Element)),
				b.i(tag.FunctionalGroupPointer, int(tag.PlanePositionSequence.Group), int(tag.PlanePositionSequence.Element)),
				b.s(tag.DimensionDescriptionLabel, "Image Position Patient"),
			}),
		// Common Instance Reference module.
		b.seq(tag.ReferencedSeriesSequence, []*dicom.Element{
			b.s(tag.SeriesInstanceUID, src.SeriesInstanceUID),
			b.seq(tag.ReferencedInstanceSequence, refInstances...),
		}),
		pixData,
	)
	return es, b.err
}

// slicePositionIndex numbers the source slices that frames use, ascending
// along the normal from 1: the second dimension's index values.
func slicePositionIndex(frames []*segFrame) map[int]int {
	posIndex := map[int]int{}
	for _, f := range frames {
		posIndex[f.slice] = 0
	}
	used := make([]int, 0, len(posIndex))
	for s := range posIndex {
		used = append(used, s)
	}
	sort.Ints(used)
	for n, s := range used {
		posIndex[s] = n + 1
	}
	return posIndex
}

// segmentItems are the Segment Sequence's items, one per finding in rank
// order.
func (b *builder) segmentItems(findings []Finding, inst *Instance) [][]*dicom.Element {
	sorted := append([]Finding(nil), findings...)
	sort.Slice(sorted, func(a, c int) bool { return sorted[a].Rank < sorted[c].Rank })
	segments := make([][]*dicom.Element, 0, len(sorted))
	for _, f := range sorted {
		segments = append(segments, []*dicom.Element{
			b.i(tag.SegmentNumber, f.Rank),
			b.s(tag.SegmentLabel, clip(f.label(), 64)),
			b.s(tag.SegmentDescription, clip(f.summary(false), 1024)),
			b.s(tag.SegmentAlgorithmType, "AUTOMATIC"),
			b.s(tag.SegmentAlgorithmName, manufacturer),
			b.seq(tag.SegmentationAlgorithmIdentificationSequence, []*dicom.Element{
				b.code(tag.AlgorithmFamilyCodeSequence, AlgorithmFamily),
				b.s(tag.AlgorithmName, manufacturer),
				b.s(tag.AlgorithmVersion, clip(version(), 64)),
				b.s(tag.AlgorithmSource, manufacturer),
			}),
			b.code(tag.SegmentedPropertyCategoryCodeSequence, codeMorphAbnormal),
			b.code(tag.SegmentedPropertyTypeCodeSequence, codeNodule),
			b.code(tag.AnatomicRegionSequence, codeLung),
			b.s(tag.TrackingID, clip(f.label(), 64)),
			b.s(tag.TrackingUID, inst.TrackingUIDs[f.Rank]),
			b.i(tag.RecommendedDisplayCIELabValue, cieLab(f.Rank)...),
		})
	}
	return segments
}

// perFrameItems are the Per-Frame Functional Groups: each frame's source
// slice, dimension index values, position and segment.
func (b *builder) perFrameItems(src *dicomio.SeriesRefs, frames []*segFrame, posIndex map[int]int) [][]*dicom.Element {
	perFrame := make([][]*dicom.Element, 0, len(frames))
	for _, f := range frames {
		sl := src.Slices[f.slice]
		source := []*dicom.Element{
			b.s(tag.ReferencedSOPClassUID, sl.SOPClassUID),
			b.s(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
			b.code(tag.PurposeOfReferenceCodeSequence, codeSourceForImgPro),
		}
		if sl.Frame > 0 {
			source = append(source, b.s(tag.ReferencedFrameNumber, fmt.Sprint(sl.Frame)))
		}
		perFrame = append(perFrame, []*dicom.Element{
			b.seq(tag.DerivationImageSequence, []*dicom.Element{
				b.code(tag.DerivationCodeSequence, codeSegmentation),
				b.seq(tag.SourceImageSequence, source),
			}),
			b.seq(tag.FrameContentSequence, []*dicom.Element{b.i(tag.DimensionIndexValues, f.segment, posIndex[f.slice])}),
			b.seq(tag.PlanePositionSequence, []*dicom.Element{b.s(tag.ImagePositionPatient, dsVec(sl.Position[:])...)}),
			b.seq(tag.SegmentIdentificationSequence, []*dicom.Element{b.i(tag.ReferencedSegmentNumber, f.segment)}),
		})
	}
	return perFrame
}

// referencedInstances are the Common Instance Reference module's items;
// a multi-frame instance is referenced once.
func (b *builder) referencedInstances(src *dicomio.SeriesRefs) [][]*dicom.Element {
	refInstances := make([][]*dicom.Element, 0, len(src.Slices))
	seen := map[string]bool{}
	for _, sl := range src.Slices {
		if seen[sl.SOPInstanceUID] {
			continue // a multi-frame instance is referenced once
		}
		seen[sl.SOPInstanceUID] = true
		refInstances = append(refInstances, []*dicom.Element{
			b.s(tag.ReferencedSOPClassUID, sl.SOPClassUID),
			b.s(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
		})
	}
	return refInstances
}

// dsVec formats values as decimal strings.
func dsVec(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = formatDS(x)
	}
	return out
}

// sliceStep is the median distance in mm between neighbouring source slices
// along the normal (1 for a single slice).
func sliceStep(src *dicomio.SeriesRefs) float64 {
	n := src.Normal()
	var steps []float64
	for i := 1; i < len(src.Slices); i++ {
		a, c := src.Slices[i-1].Position, src.Slices[i].Position
		steps = append(steps, (c[0]-a[0])*n[0]+(c[1]-a[1])*n[1]+(c[2]-a[2])*n[2])
	}
	if len(steps) == 0 {
		return 1
	}
	sort.Float64s(steps)
	if s := steps[len(steps)/2]; s > 0 {
		return s
	}
	return 1
}

// palette holds display colours (sRGB 0..255) for segments, by rank.
var palette = [][3]float64{{230, 60, 40}, {40, 160, 230}, {250, 200, 30}, {120, 200, 80}, {200, 90, 220}, {255, 140, 20}, {40, 200, 190}, {230, 110, 160}}

// cieLab returns the recommended display colour of segment rank as DICOM
// CIELab values (L* 0..100 → 0..65535, a* and b* −128..127 → 0..65535;
// D65 white).
func cieLab(rank int) []int {
	c := palette[(rank-1)%len(palette)]
	lin := func(u float64) float64 {
		u /= 255
		if u <= 0.04045 {
			return u / 12.92
		}
		return math.Pow((u+0.055)/1.055, 2.4)
	}
	r, g, bl := lin(c[0]), lin(c[1]), lin(c[2])
	x := (0.4124*r + 0.3576*g + 0.1805*bl) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*bl
	z := (0.0193*r + 0.1192*g + 0.9505*bl) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	l, a, bb := 116*f(y)-16, 500*(f(x)-f(y)), 200*(f(y)-f(z))
	scale := func(v, lo, hi float64) int {
		return int(math.Round(math.Max(0, math.Min(65535, (v-lo)/(hi-lo)*65535))))
	}
	return []int{scale(l, 0, 100), scale(a, -128, 127), scale(bb, -128, 127)}
}
