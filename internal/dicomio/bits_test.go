package dicomio

import "testing"

func TestFixBits(t *testing.T) {
	cases := []struct {
		name                string
		raw                 int32
		alloc, stored, high int
		signed              bool
		want                int32
	}{
		{"unsigned 12 in 16, garbage high bits masked", 0xF123, 16, 12, 11, false, 0x123},
		{"signed 12 in 16, -1", 0x0FFF, 16, 12, 11, true, -1},
		{"signed 12 in 16, -2048", 0x0800, 16, 12, 11, true, -2048},
		{"signed 12 in 16, +2047 with garbage", 0xA7FF, 16, 12, 11, true, 2047},
		{"signed 16 full", 0xFC00, 16, 16, 15, true, -1024},
		{"unsigned 16 full", 0xFC00, 16, 16, 15, false, 0xFC00},
		{"high bit 15, stored 12 (shifted)", 0x1230, 16, 12, 15, false, 0x123},
		{"signed 8", 0x80, 8, 8, 7, true, -128},
		{"unsigned 8", 0x80, 8, 8, 7, false, 128},
		{"signed 32", -5, 32, 32, 31, true, -5},
	}
	for _, c := range cases {
		v := []int32{c.raw}
		fixBits(v, c.alloc, c.stored, c.high, c.signed)
		if v[0] != c.want {
			t.Errorf("%s: %#x → %d, want %d", c.name, c.raw, v[0], c.want)
		}
	}
}

func TestUnpackNativeByteOrder(t *testing.T) {
	le := []byte{0x34, 0x12, 0xff, 0xff}
	be := []byte{0x12, 0x34, 0xff, 0xff}
	a, b := make([]int32, 2), make([]int32, 2)
	unpackNative(a, le, 16, false)
	unpackNative(b, be, 16, true)
	if a[0] != 0x1234 || b[0] != 0x1234 || a[1] != 0xffff || b[1] != 0xffff {
		t.Fatalf("le %x be %x", a, b)
	}
	c := make([]int32, 1)
	unpackNative(c, []byte{1, 0, 0, 0x80}, 32, false)
	if c[0] != -0x7fffffff { // 0x80000001
		t.Fatalf("32-bit LE %x", c[0])
	}
}

func TestTransferSyntaxNames(t *testing.T) {
	for uid, want := range map[string]string{
		"1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
		"1.2.840.10008.1.2.4.80": "JPEG-LS Lossless Image Compression",
		"1.2.840.10008.1.2.4.90": "JPEG 2000 Image Compression (Lossless Only)",
		"1.2.3":                  "unknown transfer syntax",
	} {
		if got := TransferSyntaxName(uid); got != want {
			t.Errorf("%s: %q, want %q", uid, got, want)
		}
	}
}
