package export

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/volume"
)

// allowedWarnings are the dciodvfy warnings accepted, each for the reason
// given; any other warning, and every error, fails the tests.
var allowedWarnings = []string{
	// The General Study module's Study Time and Study ID are type 2 and
	// copied from the source series; LIDC-IDRI-0001 has them empty (its own
	// files draw the same warning) and the phantom writes no Study ID.
	// dciodvfy only notes that a DICOMDIR record could not be built from
	// them; the objects are valid.
	"Missing attribute or value that would be needed to build DICOMDIR - Study Time",
	"Missing attribute or value that would be needed to build DICOMDIR - Study ID",
}

// dciodvfy runs dicom3tools' validator on path and fails the test on any
// error or unexplained warning; it returns the output.
func dciodvfy(t *testing.T, path string) string {
	t.Helper()
	bin := tool(t, "dciodvfy", "dicom3tools")
	out, _ := runCmd(bin, path) // its exit status does not distinguish warnings
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Error"):
			t.Errorf("dciodvfy %s: %s", filepath.Base(path), line)
		case strings.HasPrefix(line, "Warning"):
			ok := false
			for _, w := range allowedWarnings {
				ok = ok || strings.Contains(line, w)
			}
			if !ok {
				t.Errorf("dciodvfy %s: unexplained %s", filepath.Base(path), line)
			}
		}
	}
	return out
}

// segCases returns the SEG/SR test cases: the phantom, the two-frame
// Enhanced CT and LIDC-IDRI-0001's 16-slice subset always, the whole
// 133-slice series unless -short.
func segCases(t *testing.T) []*testCase {
	cs := []*testCase{syntheticCase(t), enhancedCase(t), lidcCase(t, false)}
	if !testing.Short() {
		cs = append(cs, lidcCase(t, true))
	}
	return cs
}

// TestSEG writes a SEG for each case and checks it with dciodvfy and with
// pydicom+nibabel against a nearest-neighbour sampling of the labels done
// in Python (check_seg.py).
func TestSEG(t *testing.T) {
	for _, c := range segCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "seg.dcm")
			inst, err := WriteSEG(path, c.refs, c.labels, c.findings)
			if err != nil {
				t.Fatal(err)
			}
			if inst.SOPClassUID != SegmentationStorage || inst.StudyInstanceUID != c.refs.StudyInstanceUID || inst.Frames == 0 ||
				len(inst.TrackingUIDs) != len(c.findings) || !strings.HasPrefix(inst.SOPInstanceUID, "2.25.") || len(inst.EmptySegments) != 0 {
				t.Fatalf("instance %+v", inst)
			}
			// Our own reader library reads it back.
			ds, err := dicom.ParseFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e, err := ds.FindElementByTag(tag.NumberOfFrames); err != nil || dicom.MustGetStrings(e.Value)[0] != itoa(inst.Frames) {
				t.Fatalf("NumberOfFrames: %v %v", e, err)
			}
			out := dciodvfy(t, path)
			t.Logf("dciodvfy:\n%s", out)

			labels := filepath.Join(dir, "labels.nii.gz")
			if err := WriteLabelMap(labels, c.labels); err != nil {
				t.Fatal(err)
			}
			py := python(t, "pydicom", "numpy", "nibabel")
			ctr := c.findings[0].CentreLPS
			args := append([]string{path, labels, ftoa(ctr[0]), ftoa(ctr[1]), ftoa(ctr[2])}, c.files...)
			var res struct {
				Frames        int
				Segments      []int
				Mismatch      int
				Compared      int
				Nearest_z     float64
				Nearest_xy_mm float64
			}
			if err := json.Unmarshal([]byte(runPy(t, py, "check_seg.py", args...)), &res); err != nil {
				t.Fatal(err)
			}
			t.Logf("pydicom: %+v", res)
			if res.Frames != inst.Frames || len(res.Segments) != len(c.findings) {
				t.Errorf("pydicom sees %d frames, %v segments; wrote %d frames, %d findings", res.Frames, res.Segments, inst.Frames, len(c.findings))
			}
		})
	}
}

func ftoa(v float64) string { return formatDS(v) }

// TestSEGRejects: inconsistent inputs give the documented errors and write
// nothing.
func TestSEGRejects(t *testing.T) {
	c := lidcCase(t, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "seg.dcm")
	check := func(name string, labels *volume.Volume[uint8], fs []Finding, want error) {
		t.Helper()
		if _, err := WriteSEG(path, c.refs, labels, fs); !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want %v naming the file", name, err, want)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was written", name)
		}
	}
	check("nil labels", nil, c.findings, ErrLabels)
	stray := &volume.Volume[uint8]{Grid: c.labels.Grid, Data: append([]uint8(nil), c.labels.Data...)}
	stray.Data[17] = 3
	check("label without finding", stray, c.findings, ErrLabels)
	check("all background", volume.New[uint8](c.labels.Grid), c.findings, ErrEmpty)
	// A ball above the 16-slice slab (z −95 mm is the top slice) that the
	// 1 mm grid still holds: no source slice crosses it.
	g := c.labels.Grid
	g.Origin[2] += 40
	far := volume.New[uint8](g)
	paintBall(far, [3]float64{0, 50, -60}, 2, 1)
	check("labels off the slices", far, c.findings[:1], ErrEmpty)
	bad := lidcFindings()
	bad[0].Rank = 300
	check("bad rank", c.labels, bad, ErrFindings)

	// Unusable source references (hand-made or from a corrupt header).
	for name, mutate := range map[string]func(r *dicomio.SeriesRefs){
		"no rows":          func(r *dicomio.SeriesRefs) { r.Rows = 0 },
		"huge matrix":      func(r *dicomio.SeriesRefs) { r.Rows, r.Columns = 60000, 60000 },
		"zero spacing":     func(r *dicomio.SeriesRefs) { r.PixelSpacing[1] = 0 },
		"NaN spacing":      func(r *dicomio.SeriesRefs) { r.PixelSpacing[0] = math.NaN() },
		"no orientation":   func(r *dicomio.SeriesRefs) { r.Orientation = [6]float64{} },
		"skew orientation": func(r *dicomio.SeriesRefs) { r.Orientation = [6]float64{1, 0, 0, 0.5, 0.866, 0} },
		"NaN position":     func(r *dicomio.SeriesRefs) { r.Slices[3].Position[2] = math.NaN() },
		"no SOP UID":       func(r *dicomio.SeriesRefs) { r.Slices[5].SOPInstanceUID = "" },
		"no frame of ref":  func(r *dicomio.SeriesRefs) { r.FrameOfReferenceUID = "" },
	} {
		r := *c.refs
		r.Slices = append([]dicomio.SourceSlice(nil), c.refs.Slices...)
		mutate(&r)
		if _, err := WriteSEG(path, &r, c.labels, c.findings); !errors.Is(err, ErrNoDICOMSource) {
			t.Errorf("%s: %v, want ErrNoDICOMSource", name, err)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was written")
	}
}

// TestDciodvfyCatchesErrors: the validator the SEG and SR tests rely on must
// report a SEG that lacks its Segment Sequence.
func TestDciodvfyCatchesErrors(t *testing.T) {
	bin := tool(t, "dciodvfy", "dicom3tools")
	c := lidcCase(t, false)
	byRank, _ := checkFindings(c.findings)
	lo, hi, _, _ := checkLabels(c.labels, byRank)
	frames := sampleFrames(c.refs, c.labels, lo, hi)
	inst := &Instance{SOPClassUID: SegmentationStorage, SOPInstanceUID: newUID(), SeriesInstanceUID: newUID(),
		TrackingUIDs: map[int]string{1: newUID(), 2: newUID()}}
	es, err := segDataset(c.refs, c.findings, frames, inst, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var kept []*dicom.Element
	for _, e := range es {
		if e.Tag != tag.SegmentSequence {
			kept = append(kept, e)
		}
	}
	path := filepath.Join(t.TempDir(), "broken.dcm")
	if err := writeDICOM(path, kept, inst.SOPClassUID, inst.SOPInstanceUID); err != nil {
		t.Fatal(err)
	}
	out, _ := runCmd(bin, path)
	if !strings.Contains(out, "Error") || !strings.Contains(out, "SegmentSequence") {
		t.Fatalf("dciodvfy accepted a SEG without Segment Sequence:\n%s", out)
	}
}

// TestPackFrames: frames whose size is not a multiple of 8 bits are packed
// bit after bit, first pixel in the lowest bit.
func TestPackFrames(t *testing.T) {
	// Two 3×3 frames: pixels 0 and 8 of the first, 4 of the second.
	f1 := &segFrame{bits: []byte{0x01, 0x01}}
	f2 := &segFrame{bits: []byte{0x10, 0x00}}
	got := packFrames([]*segFrame{f1, f2}, 9)
	// Bits set: 0, 8 and 9+4 = 13 → bytes 0x01, 0x21; 18 bits → 3 bytes, padded to 4.
	want := []byte{0x01, 0x21, 0x00, 0x00}
	if string(got) != string(want) {
		t.Fatalf("packed % x, want % x", got, want)
	}
}

// TestSEGGeometryOblique: a source whose rows run along −x and whose slices
// are sampled off-axis still maps each set pixel onto a labelled voxel (a
// hand-made series; no file is read).
func TestSEGGeometryOblique(t *testing.T) {
	g := volume.Grid{Dims: [3]int{40, 40, 40}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-20, -20, -20}, Direction: volume.Identity}
	labels := volume.New[uint8](g)
	paintBall(labels, [3]float64{3, -4, 2}, 6, 1)
	s := math.Sqrt(0.5)
	refs := &dicomio.SeriesRefs{Rows: 64, Columns: 64, PixelSpacing: [2]float64{0.5, 0.5},
		Orientation: [6]float64{-s, s, 0, 0, 0, -1}} // rows along (−x+y)/√2, columns along −z: a tilted coronal-ish plane
	n := refs.Normal()
	for k := -10; k <= 10; k++ {
		// Slice k: its centre pixel (32, 32) lies at k mm along the normal.
		var p volume.Vec3
		for a := 0; a < 3; a++ {
			p[a] = float64(k)*n[a] - 32*0.5*refs.Orientation[a] - 32*0.5*refs.Orientation[3+a]
		}
		refs.Slices = append(refs.Slices, dicomio.SourceSlice{SOPClassUID: "1.2.3", SOPInstanceUID: "1.2.3." + itoa(k+20), Position: p})
	}
	byRank := map[int]*Finding{1: {Rank: 1}}
	lo, hi, ok, err := checkLabels(labels, byRank)
	if err != nil || !ok {
		t.Fatal(err)
	}
	frames := sampleFrames(refs, labels, lo, hi)
	if len(frames) < 9 {
		t.Fatalf("%d frames for a 12 mm ball sampled every 1 mm", len(frames))
	}
	set := 0
	for _, f := range frames {
		sl := refs.Slices[f.slice]
		for px := 0; px < 64*64; px++ {
			if f.bits[px>>3]>>(px&7)&1 == 0 {
				continue
			}
			set++
			r, c := float64(px/64), float64(px%64)
			var w volume.Vec3
			for a := 0; a < 3; a++ {
				w[a] = sl.Position[a] + c*0.5*refs.Orientation[a] + r*0.5*refs.Orientation[3+a]
			}
			if d := dist(w, [3]float64{3, -4, 2}); d > 6+0.9 {
				t.Fatalf("pixel at %v is %.2f mm from the ball centre (radius 6)", w, d)
			}
		}
	}
	// A 12 mm ball cut by 21 planes 1 mm apart at 0.25 mm² per pixel.
	if set < 1500 {
		t.Fatalf("only %d pixels set", set)
	}
}

// TestSEGEmptySegment: a finding without labelled pixels on the source
// slices is described, has no frame, is reported in EmptySegments, and the
// SEG stays valid.
func TestSEGEmptySegment(t *testing.T) {
	c := lidcCase(t, false)
	fs := append(lidcFindings(), Finding{Rank: 3, CentreLPS: [3]float64{0, 0, -100}, LongAxisMM: math.NaN(),
		ShortAxisMM: math.NaN(), MeanDiameterMM: math.NaN(), VolumeMM3: math.NaN(), SolidDiameterMM: math.NaN(),
		Brock: math.NaN(), CNN: math.NaN(), Spiculation: math.NaN()})
	path := filepath.Join(t.TempDir(), "seg.dcm")
	inst, err := WriteSEG(path, c.refs, c.labels, fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.EmptySegments) != 1 || inst.EmptySegments[0] != 3 {
		t.Fatalf("EmptySegments %v, want [3]", inst.EmptySegments)
	}
	dciodvfy(t, path)
}
