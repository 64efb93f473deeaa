package codec

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"
)

// rleFrame assembles an RLE frame from already-encoded segments.
func rleFrame(segs ...[]byte) []byte {
	h := make([]byte, rleHeaderSize)
	binary.LittleEndian.PutUint32(h, uint32(len(segs)))
	off := rleHeaderSize
	for i, s := range segs {
		binary.LittleEndian.PutUint32(h[4+4*i:], uint32(off))
		off += len(s)
	}
	for _, s := range segs {
		h = append(h, s...)
	}
	return h
}

// TestRLEHandBuilt decodes segments whose output was worked out by hand from
// PS3.5 G.3.1: header n >= 0 copies n+1 literal bytes, -127..-1 repeats the
// next byte 1-n times, -128 does nothing.
func TestRLEHandBuilt(t *testing.T) {
	// 8 bits, 2×4: literal(10,20,30), repeat 3×7, no-op, literal(1,2).
	seg := []byte{0x02, 10, 20, 30, 0xFE, 7, 0x80, 0x01, 1, 2}
	got, err := DecodeRLE(rleFrame(seg), 2, 4, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "8-bit", got, []uint16{10, 20, 30, 7, 7, 7, 1, 2})

	// 16 bits, 1×4 pixels 0x0102 0x0102 0xFF00 0x1234: the high-byte plane
	// (01 01 FF 12) is repeat 2×01 then literal FF 12; the low-byte plane
	// (02 02 00 34) is one literal of 4, plus an even-length pad byte that
	// must be ignored.
	hi := []byte{0xFF, 0x01, 0x01, 0xFF, 0x12}
	lo := []byte{0x03, 0x02, 0x02, 0x00, 0x34, 0x00}
	got, err = DecodeRLE(rleFrame(hi, lo), 1, 4, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "16-bit", got, []uint16{0x0102, 0x0102, 0xFF00, 0x1234})

	// RGB 8 bits, 1×3: planes R=(1,1,1) G=(2,3,4) B=(9,9,8); output is
	// pixel-interleaved.
	r := []byte{0xFE, 1}
	g := []byte{0x02, 2, 3, 4}
	b := []byte{0xFF, 9, 0x00, 8}
	got, err = DecodeRLE(rleFrame(r, g, b), 1, 3, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "rgb", got, []uint16{1, 2, 9, 1, 3, 9, 1, 4, 8})

	// A replicate run longer than the image is clipped to the image.
	got, err = DecodeRLE(rleFrame([]byte{0x81, 5}), 2, 2, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "clipped run", got, []uint16{5, 5, 5, 5})
}

func TestRLEErrors(t *testing.T) {
	good := []byte{0x02, 10, 20, 30, 0xFE, 7, 0x80, 0x01, 1, 2}
	cases := []struct {
		name                string
		frame               []byte
		rows, cols, bits, n int
		want                error
	}{
		{"short header", make([]byte, 10), 2, 4, 8, 1, ErrCorrupt},
		{"segment count", rleFrame(good, good), 2, 4, 8, 1, ErrCorrupt},
		{"segments for 16 bits", rleFrame(good), 2, 4, 16, 1, ErrCorrupt},
		{"ends early", rleFrame(good[:8]), 2, 4, 8, 1, ErrCorrupt},
		{"literal past end", rleFrame([]byte{0x05, 1, 2}), 1, 6, 8, 1, ErrCorrupt},
		{"replicate without byte", rleFrame([]byte{0x02, 1, 2, 3, 0xFE}), 2, 3, 8, 1, ErrCorrupt},
		{"too many pixels for data", rleFrame(good), 1000, 1000, 8, 1, ErrCorrupt},
		{"huge image", rleFrame(good), 65535, 65535, 16, 3, ErrCorrupt},
		{"zero rows", rleFrame(good), 0, 4, 8, 1, ErrCorrupt},
		{"32 bits", rleFrame(good, good, good, good), 2, 4, 32, 1, ErrUnsupported},
		{"2 samples", rleFrame(good, good), 2, 4, 8, 2, ErrUnsupported},
	}
	for _, c := range cases {
		_, err := DecodeRLE(c.frame, c.rows, c.cols, c.bits, c.n)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	// Offsets out of order or outside the frame.
	f := rleFrame(good, good)
	binary.LittleEndian.PutUint32(f[8:], 9999)
	if _, err := DecodeRLE(f, 2, 4, 16, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("offset past end: %v", err)
	}
	binary.LittleEndian.PutUint32(f[8:], 63)
	if _, err := DecodeRLE(f, 2, 4, 16, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("offset inside header: %v", err)
	}
}

// packBits is a test-only PackBits encoder (PS3.5 G.3.1): replicate runs of
// 2..128 equal bytes, literal runs of up to 128 bytes otherwise.
func packBits(src []byte) []byte {
	var out []byte
	for i := 0; i < len(src); {
		r := 1
		for i+r < len(src) && r < 128 && src[i+r] == src[i] {
			r++
		}
		if r >= 2 {
			out = append(out, byte(int8(1-r)), src[i])
			i += r
			continue
		}
		j := i + 1
		for j < len(src) && j-i < 128 && !(j+1 < len(src) && src[j] == src[j+1]) {
			j++
		}
		out = append(out, byte(j-i-1))
		out = append(out, src[i:j]...)
		i = j
	}
	if len(out)%2 == 1 {
		out = append(out, 0x80) // pad to even length with a no-op
	}
	return out
}

// encodeRLE is a test-only RLE Lossless encoder for pixel-interleaved samples.
func encodeRLE(samples []uint16, npix, bits, spp int) []byte {
	nb := bits / 8
	var segs [][]byte
	for s := 0; s < spp; s++ {
		for b := 0; b < nb; b++ {
			plane := make([]byte, npix)
			for p := range plane {
				plane[p] = byte(samples[p*spp+s] >> (8 * (nb - 1 - b)))
			}
			segs = append(segs, packBits(plane))
		}
	}
	return rleFrame(segs...)
}

// TestRLERoundTrip encodes random images with long runs and noise through the
// test encoder and requires the exact samples back, for 8/16 bits, 1/3
// samples per pixel.
func TestRLERoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, bits := range []int{8, 16} {
		for _, spp := range []int{1, 3} {
			rows, cols := 37, 301
			s := make([]uint16, rows*cols*spp)
			v := uint16(0)
			for i := range s {
				if rng.Intn(10) == 0 {
					v = uint16(rng.Intn(1 << bits))
				}
				s[i] = v
				if rng.Intn(4) == 0 {
					s[i] = uint16(rng.Intn(1 << bits))
				}
			}
			got, err := DecodeRLE(encodeRLE(s, rows*cols, bits, spp), rows, cols, bits, spp)
			if err != nil {
				t.Fatalf("bits %d spp %d: %v", bits, spp, err)
			}
			compareSamples(t, "round trip", got, s)
		}
	}
}
