package codec

import (
	"math/rand"
	"testing"
)

// TestIntoReusesBuffer decodes into a buffer full of garbage: the result must
// equal the plain decode and live in the caller's buffer.
func TestIntoReusesBuffer(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	garbage := func(n int) []uint16 {
		b := make([]uint16, n)
		for i := range b {
			b[i] = 0xFFFF
		}
		return b
	}

	img := testImage(rng, 13, 29, 3, 16, 0)
	rle := encodeRLE(img, 13*29, 16, 3)
	buf := garbage(13*29*3 + 5)
	got, err := DecodeRLEInto(buf, rle, 13, 29, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "rle into", got, img)
	if &got[0] != &buf[0] {
		t.Error("DecodeRLEInto did not reuse a large enough buffer")
	}
	small, err := DecodeRLEInto(make([]uint16, 3), rle, 13, 29, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "rle into small buffer", small, img)

	p := llParams{rows: 13, cols: 29, nc: 3, precision: 16, sel: 5, restart: 29, separate: true, tables: []int{0, 1, 2}}
	jpg := encodeLL(img, p)
	buf = garbage(13 * 29 * 3)
	got, _, _, _, _, err = DecodeJPEGLosslessInto(buf, jpg)
	if err != nil {
		t.Fatal(err)
	}
	compareSamples(t, "jpeg into", got, img)
	if &got[0] != &buf[0] {
		t.Error("DecodeJPEGLosslessInto did not reuse a large enough buffer")
	}
}
