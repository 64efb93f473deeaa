package export

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestReadRefsAgreesWithPydicom: dicomio.ReadRefs (header-only, Go) and
// pydicom must agree on every referenced attribute of LIDC-IDRI-0001's
// 16-slice subset, and the slices must come out in ascending z.
func TestReadRefsAgreesWithPydicom(t *testing.T) {
	files := lidcFiles(t, false)
	refs, err := dicomio.ReadRefsFiles(files, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs.Slices) != 16 || refs.Rows != 512 || refs.Columns != 512 || refs.Modality != "CT" {
		t.Fatalf("refs: %d slices, %d×%d, %s", len(refs.Slices), refs.Columns, refs.Rows, refs.Modality)
	}
	if refs.PixelSpacing != [2]float64{0.703125, 0.703125} || refs.Orientation != [6]float64{1, 0, 0, 0, 1, 0} || refs.SliceThickness != 2.5 {
		t.Fatalf("geometry: spacing %v orientation %v thickness %v", refs.PixelSpacing, refs.Orientation, refs.SliceThickness)
	}
	if n := refs.Normal(); n != (volume.Vec3{0, 0, 1}) {
		t.Fatalf("normal %v", n)
	}
	if refs.Slices[0].Position[2] != -132.5 || refs.Slices[15].Position[2] != -95 {
		t.Fatalf("z range %v … %v, want −132.5 … −95", refs.Slices[0].Position[2], refs.Slices[15].Position[2])
	}
	for i := 1; i < len(refs.Slices); i++ {
		if !(refs.Slices[i].Position[2] > refs.Slices[i-1].Position[2]) {
			t.Fatalf("slices not in ascending z at %d", i)
		}
	}
	if refs.PatientID != "LIDC-IDRI-0001" || refs.AccessionNumber != "2819497684894126" || refs.StudyDate != "20000101" {
		t.Fatalf("patient/study: %+v", refs)
	}

	py := python(t, "pydicom")
	var ref []struct {
		Path, Sop_class, Sop_instance, For, Study, Series string
		Ipp                                               [3]float64
		PatientName, PatientID, PatientBirthDate          string
		PatientSex, StudyDate, StudyTime, StudyID         string
		AccessionNumber, ReferringPhysicianName           string
	}
	if err := json.Unmarshal([]byte(runPy(t, py, "dump_refs.py", files...)), &ref); err != nil {
		t.Fatal(err)
	}
	sort.Slice(ref, func(i, j int) bool { return ref[i].Ipp[2] < ref[j].Ipp[2] })
	for i, r := range ref {
		s := refs.Slices[i]
		if s.SOPInstanceUID != r.Sop_instance || s.SOPClassUID != r.Sop_class || s.Frame != 0 || filepath.Clean(s.Path) != filepath.Clean(r.Path) {
			t.Errorf("slice %d: Go %+v, pydicom %+v", i, s, r)
		}
		for a := 0; a < 3; a++ {
			if math.Abs(s.Position[a]-r.Ipp[a]) > 1e-9 {
				t.Errorf("slice %d position %v, pydicom %v", i, s.Position, r.Ipp)
			}
		}
		if r.For != refs.FrameOfReferenceUID || r.Study != refs.StudyInstanceUID || r.Series != refs.SeriesInstanceUID {
			t.Errorf("slice %d UIDs differ: pydicom %s %s %s", i, r.For, r.Study, r.Series)
		}
	}
	r := ref[0]
	for _, p := range [][2]string{{refs.PatientName, r.PatientName}, {refs.PatientID, r.PatientID},
		{refs.PatientBirthDate, r.PatientBirthDate}, {refs.PatientSex, r.PatientSex}, {refs.StudyDate, r.StudyDate},
		{refs.StudyTime, r.StudyTime}, {refs.StudyID, r.StudyID}, {refs.AccessionNumber, r.AccessionNumber},
		{refs.ReferringPhysicianName, r.ReferringPhysicianName}} {
		if p[0] != p[1] {
			t.Errorf("patient/study attribute: Go %q, pydicom %q", p[0], p[1])
		}
	}
}

// TestSourceRefsNotDICOM: a NIfTI or MetaImage scan, or a folder without a
// DICOM series, yields ErrNoDICOMSource; so do the DICOM writers given no
// references.
func TestSourceRefsNotDICOM(t *testing.T) {
	dir := t.TempDir()
	nii := filepath.Join(dir, "scan.nii.gz")
	txt := filepath.Join(dir, "notes", "readme.txt")
	if err := os.MkdirAll(filepath.Dir(txt), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{nii, filepath.Join(dir, "scan.mhd"), txt} {
		if err := os.WriteFile(p, []byte("not DICOM at all, just some text that is long enough"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{nii, filepath.Join(dir, "scan.mhd"), filepath.Dir(txt), empty} {
		if _, err := SourceRefs(p, dicomio.Options{}); !errors.Is(err, ErrNoDICOMSource) {
			t.Errorf("%s: %v, want ErrNoDICOMSource", p, err)
		}
	}
	if _, err := SourceRefs(filepath.Join(dir, "missing"), dicomio.Options{}); err == nil || errors.Is(err, ErrNoDICOMSource) {
		t.Errorf("missing path: %v, want a plain not-found error", err)
	}
	labels := volume.New[uint8](volume.Grid{Dims: [3]int{4, 4, 4}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity})
	labels.Set(1, 1, 1, 1)
	fs := lidcFindings()[:1]
	seg := filepath.Join(dir, "seg.dcm")
	if _, err := WriteSEG(seg, nil, labels, fs); !errors.Is(err, ErrNoDICOMSource) {
		t.Errorf("WriteSEG without source: %v", err)
	}
	if _, err := WriteSR(filepath.Join(dir, "sr.dcm"), &dicomio.SeriesRefs{}, fs, SROptions{}); !errors.Is(err, ErrNoDICOMSource) {
		t.Errorf("WriteSR without source: %v", err)
	}
	if _, err := os.Stat(seg); err == nil {
		t.Error("WriteSEG wrote a file")
	}
}

// TestSourceRefsOddFiles: the odd/ single files must each give references or
// an error, never a panic.
func TestSourceRefsOddFiles(t *testing.T) {
	root := shareddata.Dir(t, "odd")
	n := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		refs, err := SourceRefs(p, dicomio.Options{AllowNonCT: true})
		if err == nil && (len(refs.Slices) == 0 || refs.FrameOfReferenceUID == "") {
			t.Errorf("%s: references without slices or frame of reference", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d odd files read without a panic", n)
}
