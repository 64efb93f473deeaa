package dicomio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The walker finds the top-level PixelData element without decoding
// anything else, so the header can be parsed from a prefix of the file and
// the pixel bytes read straight from their offset.

const (
	tagPixelData   = 0x7FE00010
	tagItem        = 0xFFFEE000
	tagItemDelim   = 0xFFFEE00D
	tagSeqDelim    = 0xFFFEE0DD
	undefinedLen   = 0xFFFFFFFF
	maxNestingWalk = 64
)

// errShort means the walk ran past the end of the bytes it was given.
var errShort = errors.New("data ends inside an element")

type walker struct {
	b        []byte
	implicit bool
	bo       binary.ByteOrder
}

// elem reads the element header at p: tag, VR ("" when implicit or for
// item/delimiter tags), value length and header size in bytes.
func (w walker) elem(p int) (tg uint32, vr string, vl uint32, hdr int, err error) {
	if p < 0 || p+8 > len(w.b) {
		return 0, "", 0, 0, errShort
	}
	g := uint32(w.bo.Uint16(w.b[p:]))
	e := uint32(w.bo.Uint16(w.b[p+2:]))
	tg = g<<16 | e
	if g == 0xFFFE || w.implicit {
		return tg, "", w.bo.Uint32(w.b[p+4:]), 8, nil
	}
	vr = string(w.b[p+4 : p+6])
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		if p+12 > len(w.b) {
			return 0, "", 0, 0, errShort
		}
		return tg, vr, w.bo.Uint32(w.b[p+8:]), 12, nil
	}
	return tg, vr, uint32(w.bo.Uint16(w.b[p+6:])), 8, nil
}

// skipUndefined returns the offset just past an undefined-length value
// starting at p (a sequence of items, or encapsulated fragments), ending at
// its sequence delimitation item.
func (w walker) skipUndefined(p, depth int) (int, error) {
	if depth > maxNestingWalk {
		return 0, fmt.Errorf("%w: sequences nested deeper than %d", ErrCorrupt, maxNestingWalk)
	}
	for {
		tg, _, vl, hdr, err := w.elem(p)
		if err != nil {
			return 0, err
		}
		p += hdr
		switch tg {
		case tagSeqDelim:
			return p, nil
		case tagItem:
			if vl == undefinedLen {
				if p, err = w.skipElements(p, depth+1, true); err != nil {
					return 0, err
				}
				continue
			}
		default:
			return 0, fmt.Errorf("%w: tag %08X inside a sequence", ErrCorrupt, tg)
		}
		if int64(p)+int64(vl) > int64(len(w.b)) {
			return 0, errShort
		}
		p += int(vl)
	}
}

// skipElements walks data elements from p until an item delimitation (when
// inItem) or until the top-level PixelData tag / end of data (otherwise).
// At top level it returns the offset of the PixelData element header, or
// len(b) when there is none.
func (w walker) skipElements(p, depth int, inItem bool) (int, error) {
	for {
		if !inItem && p == len(w.b) {
			return p, nil
		}
		tg, vr, vl, hdr, err := w.elem(p)
		if err != nil {
			return 0, err
		}
		if inItem && tg == tagItemDelim {
			return p + hdr, nil
		}
		if !inItem && tg == tagPixelData {
			return p, nil
		}
		p += hdr
		if vl == undefinedLen {
			inner := w
			if vr == "UN" {
				// An undefined-length UN holds implicit VR LE items (PS3.5 6.2.2).
				inner = walker{b: w.b, implicit: true, bo: binary.LittleEndian}
			}
			if p, err = inner.skipUndefined(p, depth+1); err != nil {
				return 0, err
			}
			continue
		}
		if int64(p)+int64(vl) > int64(len(w.b)) {
			return 0, errShort
		}
		p += int(vl)
	}
}

// metaEnd returns the offset where the data set starts: past the preamble
// (when hasMagic) and the explicit-VR little-endian group 0002 elements.
func metaEnd(b []byte, hasMagic bool) (int, error) {
	p := 0
	if hasMagic {
		p = 132
	}
	w := walker{b: b, bo: binary.LittleEndian}
	for p+8 <= len(b) && binary.LittleEndian.Uint16(b[p:]) == 0x0002 {
		_, _, vl, hdr, err := w.elem(p)
		if err != nil {
			return 0, err
		}
		if vl == undefinedLen || int64(p)+int64(hdr)+int64(vl) > int64(len(b)) {
			return 0, errShort
		}
		p += hdr + int(vl)
	}
	return p, nil
}

// findPixelData locates the top-level PixelData element in b, whose data set
// starts at start and is encoded per implicit/bo. It returns the offset of
// the element header, its header size and value length (undefinedLen for
// encapsulated data). found is false when the data set ends without one;
// errShort when b ends before the walk is done.
func findPixelData(b []byte, start int, implicit bool, bo binary.ByteOrder) (off, hdr int, vl uint32, found bool, err error) {
	w := walker{b: b, implicit: implicit, bo: bo}
	off, err = w.skipElements(start, 0, false)
	if err != nil {
		return 0, 0, 0, false, err
	}
	if off == len(b) {
		return off, 0, 0, false, nil
	}
	_, _, vl, hdr, err = w.elem(off)
	if err != nil {
		return 0, 0, 0, false, err
	}
	return off, hdr, vl, true, nil
}

// MaxSequenceDepth is the deepest nesting of sequences and items (each
// counts one level) a file may have before its header is handed to the
// dicom library, which parses nested values recursively: 12 MB of nested
// defined-length sequences would overflow the goroutine stack, a fatal
// error no recover can catch. Real files nest a few levels (an Enhanced CT
// frame's functional groups: 4); deeper files are refused as ErrCorrupt.
const MaxSequenceDepth = 64

// checkNesting walks the data-set elements of ds (encoded per implicit/bo)
// the way the dicom library will parse them, with an explicit stack instead
// of recursion, and returns an error wrapping ErrCorrupt when sequences and
// items nest deeper than MaxSequenceDepth, or when an element's value
// length runs past the sequence or item that holds it (the library
// allocates a value's length before reading it, so a 4 GB length inside a
// small item would be a 4 GB allocation). Elements the library descends
// into: items (any length), SQ values (from the explicit VR, or the data
// dictionary when implicit) and undefined-length UN values.
func checkNesting(ds []byte, implicit bool, bo binary.ByteOrder) error {
	type level struct {
		end       int // where the innermost defined-length container ends
		undefined bool
	}
	stack := make([]level, 1, 16)
	stack[0] = level{end: len(ds)}
	w := walker{b: ds, implicit: implicit, bo: bo}
	p := 0
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if !top.undefined && p >= top.end {
			stack = stack[:len(stack)-1]
			continue
		}
		if p >= top.end {
			return nil // an undefined-length value ran to its bound
		}
		tg, vr, vl, hdr, err := w.elem(p)
		if err != nil {
			// Truncation is not a nesting error: the walker and the
			// library report it.
			return nil //nolint:nilerr // see above
		}
		p += hdr
		if tg == tagItemDelim || tg == tagSeqDelim {
			if top.undefined {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		container := tg == tagItem || vr == "SQ" || vr == "UN" && vl == undefinedLen
		if implicit && tg != tagItem {
			if info, err := tag.Find(tag.Tag{Group: uint16(tg >> 16), Element: uint16(tg)}); err == nil {
				container = len(info.VRs) > 0 && info.VRs[0] == "SQ"
			} else {
				container = vl == undefinedLen // unknown tag: read as UN
			}
		}
		if !container && vl == undefinedLen {
			container = true // encapsulated OB/OW: items follow
		}
		if vl != undefinedLen && int64(p)+int64(vl) > int64(top.end) {
			return fmt.Errorf("%w: element (%04X,%04X) of %d bytes runs past the item or data set holding it", ErrCorrupt, tg>>16, tg&0xFFFF, vl)
		}
		if !container {
			p += int(vl)
			continue
		}
		if len(stack) > MaxSequenceDepth {
			return fmt.Errorf("%w: sequences and items nested deeper than %d levels", ErrCorrupt, MaxSequenceDepth)
		}
		if vl == undefinedLen {
			stack = append(stack, level{end: top.end, undefined: true})
			continue
		}
		stack = append(stack, level{end: p + int(vl)})
	}
	return nil
}
