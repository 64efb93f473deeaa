package codec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// oddDir is the shared folder of single-file decoder test data.
var oddDir = shareddata.Path("odd")

// needOdd skips the test when the shared real-data folder is absent.
func needOdd(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(oddDir); err != nil {
		t.Skipf("real test data not found at %s (%v): skipping", oddDir, err)
	}
}

// dcmFile is what the tests need from one DICOM file: header numbers and
// either the encapsulated frame bytes or the native samples.
type dcmFile struct {
	ts                       string
	rows, cols, bits, spp    int
	frames                   [][]byte // encapsulated: one frame (fragments joined)
	native                   []uint16 // native: unsigned bit patterns
	numberOfFrames, planarCf int
}

// readDCM reads a file given relative to oddDir.
func readDCM(t testing.TB, rel string) *dcmFile {
	t.Helper()
	return readDCMPath(t, filepath.Join(oddDir, rel))
}

// readDCMPath reads a DICOM file with github.com/suyashkumar/dicom.
func readDCMPath(t testing.TB, path string) *dcmFile {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	f := &dcmFile{numberOfFrames: 1}
	getInt := func(tg tag.Tag) int {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			return -1
		}
		v := dicom.MustGetInts(e.Value)
		if len(v) == 0 {
			return -1
		}
		return v[0]
	}
	if e, err := ds.FindElementByTag(tag.TransferSyntaxUID); err == nil {
		f.ts = strings.Trim(dicom.MustGetStrings(e.Value)[0], " \x00")
	}
	f.rows, f.cols = getInt(tag.Rows), getInt(tag.Columns)
	f.bits, f.spp = getInt(tag.BitsAllocated), getInt(tag.SamplesPerPixel)
	f.planarCf = getInt(tag.PlanarConfiguration)
	if e, err := ds.FindElementByTag(tag.NumberOfFrames); err == nil {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(dicom.MustGetStrings(e.Value)[0]), &n); err != nil {
			t.Fatalf("%s: NumberOfFrames: %v", path, err)
		}
		if n > 0 {
			f.numberOfFrames = n
		}
	}
	pe, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatalf("%s: no pixel data: %v", path, err)
	}
	info := dicom.MustGetPixelDataInfo(pe.Value)
	if info.IsEncapsulated {
		// One frame per fragment unless the file is single-frame, in which
		// case all fragments form the frame.
		if f.numberOfFrames == 1 {
			var all []byte
			for _, fr := range info.Frames {
				all = append(all, fr.EncapsulatedData.Data...)
			}
			f.frames = [][]byte{all}
		} else {
			for _, fr := range info.Frames {
				f.frames = append(f.frames, fr.EncapsulatedData.Data)
			}
		}
		return f
	}
	for _, fr := range info.Frames {
		switch raw := fr.NativeData.RawDataSlice().(type) {
		case []uint16:
			f.native = append(f.native, raw...)
		case []uint8:
			for _, v := range raw {
				f.native = append(f.native, uint16(v))
			}
		case []int:
			for _, v := range raw {
				f.native = append(f.native, uint16(v))
			}
		default:
			t.Fatalf("%s: unexpected native pixel type %T", path, raw)
		}
	}
	return f
}

// compareSamples reports the first few mismatches and fails if any.
func compareSamples(t *testing.T, name string, got, want []uint16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s: sample %d = %d, want %d", name, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d samples differ", name, bad, len(got))
	}
}

func minMax(s []uint16) (lo, hi uint16) {
	lo = 0xFFFF
	for _, v := range s {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return
}

// TestDcmQATransferSyntaxes decodes the RLE and JPEG Lossless copies of the
// dcm_qa_ts MR slice and compares every sample with the uncompressed copy.
func TestDcmQATransferSyntaxes(t *testing.T) {
	needOdd(t)
	ref := readDCM(t, "dcm_qa_ts/In/1.dcm")
	if ref.ts != "1.2.840.10008.1.2.1" || ref.native == nil {
		t.Fatalf("1.dcm: transfer syntax %q, native %v: not the uncompressed reference", ref.ts, ref.native != nil)
	}
	if lo, hi := minMax(ref.native); lo != 0 || hi != 2362 {
		t.Fatalf("reference range %d..%d, want 0..2362 (README)", lo, hi)
	}
	decoded := 0
	for i := 2; i <= 9; i++ {
		name := fmt.Sprintf("dcm_qa_ts/In/%d.dcm", i)
		f := readDCM(t, name)
		var got []uint16
		var err error
		switch f.ts {
		case "1.2.840.10008.1.2.5":
			got, err = DecodeRLE(f.frames[0], f.rows, f.cols, f.bits, f.spp)
		case "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70":
			var r, c, n, p int
			got, r, c, n, p, err = DecodeJPEGLossless(f.frames[0])
			if err == nil && (r != f.rows || c != f.cols || n != 1 || p < 12 || p > 16) {
				t.Errorf("%s: SOF3 says %d×%d×%d precision %d; DICOM says %d×%d", name, r, c, n, p, f.rows, f.cols)
			}
		default:
			t.Logf("%s: transfer syntax %s not handled by this package", name, f.ts)
			continue
		}
		if err != nil {
			t.Fatalf("%s (%s): %v", name, f.ts, err)
		}
		compareSamples(t, name, got, ref.native)
		t.Logf("%s (%s): %d samples bit-exact", name, f.ts, len(got))
		decoded++
	}
	if decoded < 2 {
		t.Fatalf("decoded only %d compressed copies; want at least the RLE and JPEG Lossless ones", decoded)
	}
}

// TestPydicomRLE compares pydicom's RLE test files with their uncompressed
// originals.
func TestPydicomRLE(t *testing.T) {
	needOdd(t)
	for _, c := range []struct{ rle, ref string }{
		{"pydicom-2.3.1-debian/MR_small_RLE.dcm", "pydicom-2.3.1-debian/MR_small.dcm"},
	} {
		f := readDCM(t, c.rle)
		ref := readDCM(t, c.ref)
		if f.ts != "1.2.840.10008.1.2.5" {
			t.Fatalf("%s: transfer syntax %s, want RLE", c.rle, f.ts)
		}
		got, err := DecodeRLE(f.frames[0], f.rows, f.cols, f.bits, f.spp)
		if err != nil {
			t.Fatalf("%s: %v", c.rle, err)
		}
		compareSamples(t, c.rle, got, ref.native)
	}
}
