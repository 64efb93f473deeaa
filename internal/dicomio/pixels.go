package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// checkPixelFormat reports whether the file's pixel module describes data
// this package can turn into one scalar sample per pixel.
func (h *header) checkPixelFormat() error {
	if !h.hasPixelData {
		return fmt.Errorf("dicomio: %s: %w: no pixel data", h.path, ErrUnsupportedPixelFormat)
	}
	if h.badFrames {
		return fmt.Errorf("dicomio: %s: %w: NumberOfFrames over %d", h.path, ErrCorrupt, maxFrames)
	}
	if h.rows <= 0 || h.cols <= 0 || h.rows > 1<<14 || h.cols > 1<<14 || h.rows*h.cols > 1<<26 {
		return fmt.Errorf("dicomio: %s: %w: rows %d cols %d", h.path, ErrCorrupt, h.rows, h.cols)
	}
	if h.samplesPerPixel != 1 {
		return fmt.Errorf("dicomio: %s: %w: %d samples per pixel (%s), want 1 (grey-scale)", h.path, ErrUnsupportedPixelFormat, h.samplesPerPixel, h.photometric)
	}
	switch h.bitsAllocated {
	case 8, 16, 32:
	default:
		return fmt.Errorf("dicomio: %s: %w: BitsAllocated %d", h.path, ErrUnsupportedPixelFormat, h.bitsAllocated)
	}
	if h.bitsStored < 1 || h.bitsStored > h.bitsAllocated || h.highBit >= h.bitsAllocated || h.highBit+1 < h.bitsStored {
		return fmt.Errorf("dicomio: %s: %w: BitsStored %d HighBit %d BitsAllocated %d", h.path, ErrCorrupt, h.bitsStored, h.highBit, h.bitsAllocated)
	}
	if !decodable(h.tsUID) {
		return fmt.Errorf("dicomio: %s: %w: %s (%s)", h.path, ErrUnsupportedTransferSyntax, h.tsUID, TransferSyntaxName(h.tsUID))
	}
	if h.pixOff <= 0 {
		return fmt.Errorf("dicomio: %s: %w: no pixel data", h.path, ErrCorrupt)
	}
	need := int64(h.rows) * int64(h.cols) * int64(h.bitsAllocated/8) * int64(h.numFrames)
	encapsulated := h.pixVL < 0
	have := min(h.pixVL, h.size-h.pixOff)
	if encapsulated && (h.tsUID == tsImplicitLE || h.tsUID == tsExplicitLE || h.tsUID == tsExplicitBE || h.tsUID == tsDeflateLE) {
		return fmt.Errorf("dicomio: %s: %w: encapsulated pixel data under %s", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID))
	}
	if !encapsulated && (h.tsUID == tsRLE || h.tsUID == tsJPEGLL57 || h.tsUID == tsJPEGLLSV1) {
		return fmt.Errorf("dicomio: %s: %w: native pixel data under %s", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID))
	}
	if !encapsulated && have < need {
		return fmt.Errorf("dicomio: %s: %w: pixel data has %d bytes, %d frame(s) of %d×%d×%d bits need %d (truncated?)", h.path, ErrCorrupt, have, h.numFrames, h.cols, h.rows, h.bitsAllocated, need)
	}
	return nil
}

// encapsulated reports whether the pixel data are encapsulated (compressed).
func (h *header) encapsulated() bool { return h.pixVL < 0 }

// readFrame returns the encoded bytes of frame i: native samples or the
// frame's encapsulated fragments joined. Bytes read from the file go into
// *scratch (reused; the result may alias it).
func (h *header) readFrame(i int, scratch *[]byte) ([]byte, error) {
	frameSize := h.rows * h.cols * (h.bitsAllocated / 8)
	var b []byte
	switch {
	case h.pixVL >= 0 && h.data != nil:
		lo := h.pixOff + int64(i)*int64(frameSize)
		if lo+int64(frameSize) > int64(len(h.data)) {
			return nil, fmt.Errorf("dicomio: %s: %w: frame %d beyond the end of the file", h.path, ErrCorrupt, i)
		}
		return h.data[lo : lo+int64(frameSize)], nil
	case h.pixVL >= 0:
		b = grow(scratch, frameSize)
		if err := readAt(h.path, b, h.pixOff+int64(i)*int64(frameSize)); err != nil {
			return nil, err
		}
		return b, nil
	case h.data != nil:
		if h.pixOff > int64(len(h.data)) {
			return nil, fmt.Errorf("dicomio: %s: %w: pixel data beyond the end of the file", h.path, ErrCorrupt)
		}
		b = h.data[h.pixOff:]
	default:
		b = grow(scratch, int(h.size-h.pixOff))
		if err := readAt(h.path, b, h.pixOff); err != nil {
			return nil, err
		}
	}
	frags, err := splitFragments(b, binary.LittleEndian)
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w", h.path, err)
	}
	return h.pickFrame(frags, i)
}

// pickFrame returns frame i's bytes from encapsulated fragments: all of them
// for a single-frame image, one per frame when the counts match.
func (h *header) pickFrame(frags [][]byte, i int) ([]byte, error) {
	switch {
	case len(frags) == 0:
		return nil, fmt.Errorf("dicomio: %s: %w: no pixel data fragments", h.path, ErrCorrupt)
	case h.numFrames == 1:
		if len(frags) == 1 {
			return frags[0], nil
		}
		return bytes.Join(frags, nil), nil
	case len(frags) == h.numFrames:
		return frags[i], nil
	}
	return nil, fmt.Errorf("dicomio: %s: %w: %d fragments for %d frames", h.path, ErrUnsupportedPixelFormat, len(frags), h.numFrames)
}

func grow(scratch *[]byte, n int) []byte {
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	return (*scratch)[:n]
}

func readAt(path string, b []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("dicomio: %s: %w: pixel data truncated", path, ErrCorrupt)
		}
		return fmt.Errorf("dicomio: %s: %w", path, err)
	}
	return nil
}

// decodeFrame decodes frame i into dst (len rows*cols) as sign-interpreted
// stored values: BitsStored bits at HighBit, sign-extended when
// PixelRepresentation is 1.
func (h *header) decodeFrame(i int, dst []int32, scratch *[]byte) error {
	n := h.rows * h.cols
	if len(dst) < n {
		return fmt.Errorf("dicomio: %s: buffer of %d for %d pixels", h.path, len(dst), n)
	}
	dst = dst[:n]
	b, err := h.readFrame(i, scratch)
	if err != nil {
		return err
	}
	if !h.encapsulated() && h.bitsAllocated == 16 && h.bitsStored == 16 && h.pixelRep == 1 && !h.bigEndian {
		// The common CT case (signed 16-bit little endian) in one pass.
		b = b[:2*len(dst)]
		for i := range dst {
			dst[i] = int32(int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8))
		}
		return nil
	}
	if !h.encapsulated() {
		unpackNative(dst, b, h.bitsAllocated, h.bigEndian)
		if h.bitsAllocated == 32 && h.bitsStored == 32 && h.pixelRep == 0 {
			// Unsigned 32-bit (RT dose and the like): values past int32
			// saturate.
			for i, x := range dst {
				if x < 0 {
					dst[i] = math.MaxInt32
				}
			}
			return nil
		}
	} else {
		if err := h.decodeEncapsulated(b, dst); err != nil {
			return err
		}
	}
	fixBits(dst, h.bitsAllocated, h.bitsStored, h.highBit, h.pixelRep == 1)
	return nil
}

// unpackNative reads raw samples (unsigned bit patterns) into dst.
func unpackNative(dst []int32, b []byte, bitsAllocated int, bigEndian bool) {
	switch bitsAllocated {
	case 8:
		for i := range dst {
			dst[i] = int32(b[i])
		}
	case 16:
		b = b[:2*len(dst)]
		if bigEndian {
			for i := range dst {
				dst[i] = int32(uint16(b[2*i])<<8 | uint16(b[2*i+1]))
			}
		} else {
			for i := range dst {
				dst[i] = int32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
			}
		}
	case 32:
		b = b[:4*len(dst)]
		for i := range dst {
			p := b[4*i : 4*i+4]
			if bigEndian {
				dst[i] = int32(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))
			} else {
				dst[i] = int32(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
			}
		}
	}
}

// fixBits turns raw bit patterns into stored values: shift so HighBit is the
// top stored bit, keep BitsStored bits, sign-extend when signed.
func fixBits(v []int32, bitsAllocated, bitsStored, highBit int, signed bool) {
	if bitsStored == 32 {
		return // full 32-bit signed words (unsigned 32 is refused)
	}
	shift := uint(highBit + 1 - bitsStored)
	if !signed && shift == 0 && bitsStored == bitsAllocated {
		return
	}
	mask := uint32(1)<<uint(bitsStored) - 1
	if !signed {
		for i, x := range v {
			v[i] = int32((uint32(x) >> shift) & mask)
		}
		return
	}
	ext := uint(32 - bitsStored)
	for i, x := range v {
		v[i] = int32(((uint32(x)>>shift)&mask)<<ext) >> ext
	}
}
