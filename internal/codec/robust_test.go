package codec

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

// TestCorruptionNeverPanics damages valid streams at random (byte flips,
// inserted markers, cuts) and requires every failure to wrap ErrCorrupt or
// ErrUnsupported and every success to have the advertised size. A panic
// fails the test.
func TestCorruptionNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	p := llParams{rows: 12, cols: 17, nc: 3, precision: 16, sel: 6, restart: 17, tables: []int{0, 2}}
	jpg := encodeLL(testImage(rng, p.rows, p.cols, p.nc, p.precision, 0), p)
	rleSrc := testImage(rng, 12, 17, 3, 16, 0)
	rle := encodeRLE(rleSrc, 12*17, 16, 3)
	check := func(err error, what string) {
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s: error %v wraps neither sentinel", what, err)
		}
	}
	for i := 0; i < 3000; i++ {
		j := append([]byte(nil), jpg...)
		r := append([]byte(nil), rle...)
		for k := rng.Intn(4); k >= 0; k-- {
			j[rng.Intn(len(j))] = byte(rng.Intn(256))
			r[rng.Intn(len(r))] = byte(rng.Intn(256))
		}
		if rng.Intn(4) == 0 {
			at := rng.Intn(len(j))
			j = append(j[:at], append([]byte{0xFF, byte(0xC0 + rng.Intn(64))}, j[at:]...)...)
		}
		if rng.Intn(4) == 0 {
			j = j[:rng.Intn(len(j))]
			r = r[:rng.Intn(len(r))]
		}
		out, rows, cols, n, _, err := DecodeJPEGLossless(j)
		check(err, "jpeg")
		if err == nil && len(out) != rows*cols*n {
			t.Fatalf("jpeg: %d samples for %d×%d×%d", len(out), rows, cols, n)
		}
		out, err = DecodeRLE(r, 12, 17, 16, 3)
		check(err, "rle")
		if err == nil && len(out) != 12*17*3 {
			t.Fatalf("rle: %d samples", len(out))
		}
	}
}

// TestEncodedStreamsExerciseStuffing guards the round-trip test's reach: its
// streams must contain stuffed 0xFF00 bytes and restart markers, or the
// decoder paths for them would go untested.
func TestEncodedStreamsExerciseStuffing(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	p := llParams{rows: 9, cols: 23, nc: 3, precision: 16, sel: 1, restart: 5, tables: []int{0}}
	img := testImage(rng, p.rows, p.cols, p.nc, p.precision, 0)
	enc := encodeLL(img, p)
	if !bytes.Contains(enc, []byte{0xFF, 0x00}) {
		t.Error("no stuffed 0xFF00 in the encoded stream")
	}
	for m := byte(0xD0); m <= 0xD7; m++ {
		if !bytes.Contains(enc, []byte{0xFF, m}) {
			t.Errorf("no RST%d marker in the encoded stream", m-0xD0)
		}
	}
	got, _, _, _, _, err := DecodeJPEGLossless(enc)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "stuffed stream", got, img)
}
