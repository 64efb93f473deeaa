package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// le16/le32 build little-endian element bytes for the walker tests.
func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestFindPixelDataSkipsSequences(t *testing.T) {
	// Explicit VR LE: (0008,0060) CS "CT", an undefined-length SQ with one
	// undefined-length item holding an element, an undefined-length UN with
	// implicit content, then PixelData OW of 4 bytes.
	ds := cat(
		le16(0x0008), le16(0x0060), []byte("CS"), le16(2), []byte("CT"),
		le16(0x0008), le16(0x1140), []byte("SQ"), le16(0), le32(undefinedLen),
		le16(0xFFFE), le16(0xE000), le32(undefinedLen),
		le16(0x0008), le16(0x1150), []byte("UI"), le16(4), []byte("1.2\x00"),
		le16(0xFFFE), le16(0xE00D), le32(0),
		le16(0xFFFE), le16(0xE0DD), le32(0),
		le16(0x0009), le16(0x1010), []byte("UN"), le16(0), le32(undefinedLen),
		le16(0xFFFE), le16(0xE000), le32(12),
		le16(0x0009), le16(0x0010), le32(4), []byte("ABCD"), // implicit inside UN
		le16(0xFFFE), le16(0xE0DD), le32(0),
	)
	pixAt := len(ds)
	ds = append(ds, cat(le16(0x7FE0), le16(0x0010), []byte("OW"), le16(0), le32(4), []byte{1, 2, 3, 4})...)
	off, hdr, vl, found, err := findPixelData(ds, 0, false, binary.LittleEndian)
	if err != nil || !found || off != pixAt || hdr != 12 || vl != 4 {
		t.Fatalf("off %d (want %d) hdr %d vl %d found %v err %v", off, pixAt, hdr, vl, found, err)
	}
	// Truncated inside the sequence: errShort, no panic.
	if _, _, _, _, err := findPixelData(ds[:30], 0, false, binary.LittleEndian); !errors.Is(err, errShort) {
		t.Fatalf("truncated: %v", err)
	}
	// Lengths past the end are refused.
	bad := cat(le16(0x0008), le16(0x0060), []byte("OB"), le16(0), le32(0xFFFFFFF0))
	if _, _, _, _, err := findPixelData(bad, 0, false, binary.LittleEndian); !errors.Is(err, errShort) {
		t.Fatalf("huge length: %v", err)
	}
}

func TestSplitFragments(t *testing.T) {
	b := cat(
		le16(0xFFFE), le16(0xE000), le32(4), le32(0), // basic offset table
		le16(0xFFFE), le16(0xE000), le32(2), []byte{9, 8},
		le16(0xFFFE), le16(0xE000), le32(3), []byte{7, 6, 5},
		le16(0xFFFE), le16(0xE0DD), le32(0),
	)
	h := &header{path: "x", numFrames: 1, data: b, pixOff: 0, pixVL: -1, size: int64(len(b)), rows: 1, cols: 5, bitsAllocated: 8}
	frags, err := h.fragments()
	if err != nil || len(frags) != 2 || frags[0].n != 2 || frags[1].n != 3 {
		t.Fatalf("%v %v", frags, err)
	}
	var fr frameReader
	one, err := fr.frame(h, 0)
	if err != nil || !bytes.Equal(one, []byte{9, 8, 7, 6, 5}) {
		t.Fatalf("joined frame %v %v", one, err)
	}
	short := &header{path: "x", numFrames: 1, data: b[:20], pixVL: -1, size: 20}
	if _, err := short.fragments(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated fragment: %v", err)
	}
}
