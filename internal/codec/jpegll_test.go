package codec

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
)

// TestJPEGLosslessHandBuilt decodes streams assembled byte by byte.
func TestJPEGLosslessHandBuilt(t *testing.T) {
	// 8-bit, 1×3, SV1, table: category 0 = "0", 1 = "10", 2 = "11".
	// Samples 128 (init 128, diff 0: "0"), 129 (diff +1: "10" "1"),
	// 127 (diff -2: "11", extra bits of -2 in 2 bits = -2+3 = 1: "01").
	// Bits 0 101 1101 = 0x5D.
	s := []byte{
		0xFF, 0xD8,
		0xFF, 0xC4, 0x00, 0x16, 0x00, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2,
		0xFF, 0xC3, 0x00, 0x0B, 8, 0x00, 0x01, 0x00, 0x03, 1, 1, 0x11, 0,
		0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 0, 0,
		0x5D,
		0xFF, 0xD9,
	}
	got, r, c, n, p, err := DecodeJPEGLossless(s)
	if err != nil {
		t.Fatal(err)
	}
	if r != 1 || c != 3 || n != 1 || p != 8 {
		t.Fatalf("header %d×%d×%d P%d, want 1×3×1 P8", r, c, n, p)
	}
	compareSamples(t, "8-bit", got, []uint16{128, 129, 127})

	// 16-bit, 1×2, the SSSS=16 case: table category 0 = "0", 16 = "1".
	// Sample 0 against init 32768: difference 32768, category 16, no extra
	// bits: "1". Sample 0 again: "0". Pad with ones: 10111111 = 0xBF.
	s = []byte{
		0xFF, 0xD8,
		0xFF, 0xC4, 0x00, 0x15, 0x00, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16,
		0xFF, 0xC3, 0x00, 0x0B, 16, 0x00, 0x01, 0x00, 0x02, 1, 7, 0x11, 0,
		0xFF, 0xDA, 0x00, 0x08, 1, 7, 0x00, 1, 0, 0,
		0xBF,
		0xFF, 0xD9,
	}
	got, _, _, _, _, err = DecodeJPEGLossless(s)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "16-bit SSSS=16", got, []uint16{0, 0})
}

// testImage makes a smooth image with noise, edges and, for high precision,
// full-range jumps (difference category 16), with the low pt bits cleared.
func testImage(rng *rand.Rand, rows, cols, nc, precision, pt int) []uint16 {
	s := make([]uint16, rows*cols*nc)
	maxv := 1<<precision - 1
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			for c := 0; c < nc; c++ {
				v := (x*7 + y*13 + c*1000) % (maxv + 1)
				v += rng.Intn(1 + maxv/16)
				switch rng.Intn(40) {
				case 0:
					v = 0
				case 1:
					v = maxv
				case 2:
					v = rng.Intn(maxv + 1)
				}
				v = min(v, maxv)
				s[(y*cols+x)*nc+c] = uint16(v>>pt) << pt
			}
		}
	}
	return s
}

// TestJPEGLosslessRoundTrip encodes images with the test encoder over all 7
// predictors, precisions 2..16, 1..4 components (interleaved and one scan per
// component), point transforms, restart intervals (row-aligned and not) and
// tables with codes longer than the lookahead, and requires exact samples.
func TestJPEGLosslessRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	count := 0
	for _, prec := range []int{2, 8, 12, 16} {
		for sel := 1; sel <= 7; sel++ {
			for _, nc := range []int{1, 3} {
				for _, restart := range []int{0, 5, 23} {
					p := llParams{rows: 9, cols: 23, nc: nc, precision: prec, sel: sel, restart: restart,
						separate: (sel+restart)%2 == 1, tables: []int{count % 3, (count + 1) % 3},
						pt: (count % 3) % (prec - 1), fill: count%2 == 0}
					roundTrip(t, rng, p)
					count++
				}
			}
		}
	}
	// Four components, a tall thin and a wide flat image, 16-bit extremes.
	roundTrip(t, rng, llParams{rows: 5, cols: 7, nc: 4, precision: 16, sel: 4, restart: 3, tables: []int{0, 1, 2}})
	roundTrip(t, rng, llParams{rows: 50, cols: 1, nc: 1, precision: 12, sel: 7, tables: []int{0}})
	roundTrip(t, rng, llParams{rows: 1, cols: 50, nc: 2, precision: 16, sel: 6, restart: 1, tables: []int{2}})
}

func roundTrip(t *testing.T, rng *rand.Rand, p llParams) {
	t.Helper()
	s := testImage(rng, p.rows, p.cols, p.nc, p.precision, p.pt)
	enc := encodeLL(s, p)
	got, r, c, n, prec, err := DecodeJPEGLossless(enc)
	name := fmt.Sprintf("%+v", p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r != p.rows || c != p.cols || n != p.nc || prec != p.precision {
		t.Fatalf("%s: header %d×%d×%d P%d", name, r, c, n, prec)
	}
	compareSamples(t, name, got, s)
}

// TestJPEGLosslessTruncated cuts a valid stream (with restart markers) at
// every length short of its EOI marker: each must fail with ErrCorrupt.
func TestJPEGLosslessTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	p := llParams{rows: 6, cols: 11, nc: 2, precision: 12, sel: 1, restart: 11, tables: []int{0, 2}}
	enc := encodeLL(testImage(rng, p.rows, p.cols, p.nc, p.precision, 0), p)
	for cut := 0; cut < len(enc)-2; cut++ {
		if _, _, _, _, _, err := DecodeJPEGLossless(enc[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: error %v, want ErrCorrupt", cut, len(enc), err)
		}
	}
	// A missing EOI after complete scans is accepted.
	if _, _, _, _, _, err := DecodeJPEGLossless(enc[:len(enc)-2]); err != nil {
		t.Errorf("stream without EOI: %v", err)
	}
}

func TestJPEGLosslessErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	p := llParams{rows: 4, cols: 4, nc: 1, precision: 8, sel: 1, tables: []int{0}}
	good := encodeLL(testImage(rng, 4, 4, 1, 8, 0), p)
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	find := func(b []byte, m byte) int {
		for i := 0; i+1 < len(b); i++ {
			if b[i] == 0xFF && b[i+1] == m {
				return i
			}
		}
		t.Fatalf("marker %02X not found", m)
		return -1
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"no SOI", good[2:], ErrCorrupt},
		{"baseline SOF0", mod(func(b []byte) []byte { b[find(b, 0xC3)+1] = 0xC0; return b }), ErrUnsupported},
		{"arithmetic SOF11", mod(func(b []byte) []byte { b[find(b, 0xC3)+1] = 0xCB; return b }), ErrUnsupported},
		{"precision 17", mod(func(b []byte) []byte { b[find(b, 0xC3)+4] = 17; return b }), ErrCorrupt},
		{"DNL height 0", mod(func(b []byte) []byte { i := find(b, 0xC3); b[i+5], b[i+6] = 0, 0; return b }), ErrUnsupported},
		{"huge image", mod(func(b []byte) []byte {
			i := find(b, 0xC3)
			b[i+5], b[i+6], b[i+7], b[i+8] = 0xFF, 0xFF, 0xFF, 0xFF
			return b
		}), ErrCorrupt},
		{"predictor 0", mod(func(b []byte) []byte { i := find(b, 0xDA); b[i+7] = 0; return b }), ErrCorrupt},
		{"predictor 8", mod(func(b []byte) []byte { i := find(b, 0xDA); b[i+7] = 8; return b }), ErrCorrupt},
		{"undefined table", mod(func(b []byte) []byte { i := find(b, 0xDA); b[i+6] = 0x30; return b }), ErrCorrupt},
		{"unknown component", mod(func(b []byte) []byte { i := find(b, 0xDA); b[i+5] = 9; return b }), ErrCorrupt},
		{"no scan", mod(func(b []byte) []byte { i := find(b, 0xDA); return append(b[:i], 0xFF, 0xD9) }), ErrCorrupt},
		{"segment length past end", mod(func(b []byte) []byte { i := find(b, 0xC4); b[i+2] = 0x7F; return b }), ErrCorrupt},
		{"over-subscribed table", mod(func(b []byte) []byte { i := find(b, 0xC4); b[i+6], b[i+7] = 5, 1; return b }), ErrCorrupt},
	}
	for _, c := range cases {
		_, _, _, _, _, err := DecodeJPEGLossless(c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// Subsampled components are refused as unsupported.
	p3 := llParams{rows: 4, cols: 4, nc: 3, precision: 8, sel: 1, tables: []int{0}}
	b := encodeLL(testImage(rng, 4, 4, 3, 8, 0), p3)
	b[find(b, 0xC3)+11] = 0x22
	if _, _, _, _, _, err := DecodeJPEGLossless(b); !errors.Is(err, ErrUnsupported) {
		t.Errorf("subsampled: %v", err)
	}
}
