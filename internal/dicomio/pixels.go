package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/lungctl/lungctl/internal/volume"
	"io"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
)

// frameBytes is the size in bytes of one native (uncompressed) frame.
func (h *header) frameBytes() int { return h.rows * h.cols * (h.bitsAllocated / 8) }

// minEncodedBytes is the fewest bytes one compressed frame of npix samples
// can take, for the transfer syntaxes whose encoders cannot do better:
// RLE (each segment's PackBits runs expand at most 64-fold, plus the 64-byte
// header) and JPEG Lossless process 14 (at least one bit per sample).
// JPEG-LS run mode can code a uniform frame in a few bytes: 0 (no bound).
func (h *header) minEncodedBytes(npix int64) int64 {
	switch h.tsUID {
	case tsRLE:
		return 64 + int64(h.bitsAllocated/8)*(npix/64)
	case tsJPEGLL57, tsJPEGLLSV1:
		return npix / 8
	}
	return 0
}

// checkPixelFormat reports whether the file's pixel module describes data
// this package can turn into one scalar sample per pixel, and whether the
// file is long enough to hold what it claims (before anything is
// allocated from the claim).
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
		return fmt.Errorf("dicomio: %s: %w: %s (%s)%s", h.path, ErrUnsupportedTransferSyntax, h.tsUID, TransferSyntaxName(h.tsUID), decompressHint(h.tsUID))
	}
	if h.pixOff <= 0 {
		return fmt.Errorf("dicomio: %s: %w: no pixel data", h.path, ErrCorrupt)
	}
	npix := int64(h.rows) * int64(h.cols)
	need := npix * int64(h.bitsAllocated/8) * int64(h.numFrames)
	encapsulated := h.pixVL < 0
	if encapsulated && (h.tsUID == tsImplicitLE || h.tsUID == tsExplicitLE || h.tsUID == tsExplicitBE || h.tsUID == tsDeflateLE) {
		return fmt.Errorf("dicomio: %s: %w: encapsulated pixel data under %s", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID))
	}
	if !encapsulated && isEncapsulatedSyntax(h.tsUID) {
		return fmt.Errorf("dicomio: %s: %w: native pixel data under %s", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID))
	}
	if h.deflated {
		// The inflated length is known only once inflated (inflatePixels
		// checks it); the claim is checked against the budget there.
		return nil
	}
	have := h.size - h.pixOff
	if !encapsulated {
		have = min(h.pixVL, have)
		if have < need {
			return fmt.Errorf("dicomio: %s: %w: pixel data has %d bytes, %d frame(s) of %d×%d×%d bits need %d (truncated?)", h.path, ErrCorrupt, have, h.numFrames, h.cols, h.rows, h.bitsAllocated, need)
		}
		return nil
	}
	if m := h.minEncodedBytes(npix); m > 0 && have/m < int64(h.numFrames) {
		return fmt.Errorf("dicomio: %s: %w: %d bytes of %s data cannot hold %d frame(s) of %d×%d pixels (each needs at least %d bytes)",
			h.path, ErrCorrupt, have, TransferSyntaxName(h.tsUID), h.numFrames, h.cols, h.rows, m)
	}
	return nil
}

// encapsulated reports whether the pixel data are encapsulated (compressed).
func (h *header) encapsulated() bool { return h.pixVL < 0 }

// frameReader reads frames' encoded bytes for one goroutine: file reads go
// into its scratch buffer (reused; a result may alias it), and it keeps the
// inflated pixel data of the last deflated file it was asked for. Call
// close when done.
type frameReader struct {
	scratch  []byte
	inflH    *header
	infl     []byte
	inflFree func()
}

func (fr *frameReader) close() {
	if fr.inflFree != nil {
		fr.inflFree()
	}
	fr.inflH, fr.infl, fr.inflFree = nil, nil, nil
}

// frame returns the encoded bytes of frame i of h: native samples or the
// frame's encapsulated fragments joined.
func (fr *frameReader) frame(h *header, i int) ([]byte, error) {
	if i < 0 || i >= h.numFrames {
		return nil, fmt.Errorf("dicomio: %s: %w: frame %d of %d", h.path, ErrCorrupt, i, h.numFrames)
	}
	frameSize := int64(h.frameBytes())
	lo := int64(i) * frameSize
	switch {
	case h.deflated:
		if fr.inflH != h {
			fr.close()
			data, free, err := h.inflatePixels()
			if err != nil {
				return nil, err
			}
			fr.inflH, fr.infl, fr.inflFree = h, data, free
		}
		return fr.infl[lo : lo+frameSize], nil
	case h.pixVL >= 0 && h.data != nil:
		lo += h.pixOff
		if lo+frameSize > int64(len(h.data)) {
			return nil, fmt.Errorf("dicomio: %s: %w: frame %d beyond the end of the file", h.path, ErrCorrupt, i)
		}
		return h.data[lo : lo+frameSize], nil
	case h.pixVL >= 0:
		b := grow(&fr.scratch, int(frameSize))
		if err := readAt(h.path, b, h.pixOff+lo); err != nil {
			return nil, err
		}
		return b, nil
	}
	refs, err := h.fragments()
	if err != nil {
		return nil, err
	}
	pick, err := h.pickFrame(refs, i)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, r := range pick {
		total += r.n
	}
	// A compressed frame far larger than the frame it decodes to is not
	// data any encoder writes: refuse it before reading it.
	if limit := 16*frameSize + 1<<20; total > limit {
		return nil, fmt.Errorf("dicomio: %s: %w: frame %d has %d bytes of %s data for a %d-byte frame", h.path, ErrCorrupt, i, total, TransferSyntaxName(h.tsUID), frameSize)
	}
	if h.data != nil && len(pick) == 1 {
		return h.data[pick[0].off : pick[0].off+pick[0].n], nil
	}
	if err := membudget.Check(fmt.Sprintf("dicomio: %s: compressed frame %d", h.path, i), uint64(total)); err != nil {
		return nil, err
	}
	b := grow(&fr.scratch, int(total))
	p := 0
	for _, r := range pick {
		dst := b[p : p+int(r.n)]
		if h.data != nil {
			copy(dst, h.data[r.off:r.off+r.n])
		} else if err := readAt(h.path, dst, r.off); err != nil {
			return nil, err
		}
		p += int(r.n)
	}
	return b, nil
}

// fragRef is one encapsulated fragment: its offset in the file (or data)
// and its length in bytes.
type fragRef struct{ off, n int64 }

// maxFragments bounds how many fragments one file's pixel data may hold.
const maxFragments = 1 << 20

// fragments returns the file's encapsulated fragments (Basic Offset Table
// excluded), reading only the 8-byte item headers, once per file.
func (h *header) fragments() ([]fragRef, error) {
	h.fragsOnce.Do(func() { h.frags, h.fragsErr = h.readFragments() })
	return h.frags, h.fragsErr
}

func (h *header) readFragments() ([]fragRef, error) {
	var rd io.ReaderAt
	end := h.size
	if h.data != nil {
		rd, end = bytes.NewReader(h.data), int64(len(h.data))
	} else {
		f, err := safefile.Open(h.path)
		if err != nil {
			return nil, fmt.Errorf("dicomio: %s: %w", h.path, err)
		}
		defer f.Close()
		rd = f
	}
	var out []fragRef
	var ih [8]byte
	p, first := h.pixOff, true
	for p+8 <= end {
		if _, err := rd.ReadAt(ih[:], p); err != nil {
			return nil, fmt.Errorf("dicomio: %s: %w: reading encapsulated pixel data: %w", h.path, ErrCorrupt, err)
		}
		tg := uint32(binary.LittleEndian.Uint16(ih[0:]))<<16 | uint32(binary.LittleEndian.Uint16(ih[2:]))
		vl := binary.LittleEndian.Uint32(ih[4:])
		if tg == tagSeqDelim {
			break
		}
		if tg != tagItem || vl == undefinedLen {
			return nil, fmt.Errorf("dicomio: %s: %w: tag %08X in encapsulated pixel data", h.path, ErrCorrupt, tg)
		}
		p += 8
		if p+int64(vl) > end {
			return nil, fmt.Errorf("dicomio: %s: %w: fragment of %d bytes runs past the end of the file", h.path, ErrCorrupt, vl)
		}
		if !first {
			if len(out) >= maxFragments {
				return nil, fmt.Errorf("dicomio: %s: %w: more than %d fragments", h.path, ErrCorrupt, maxFragments)
			}
			out = append(out, fragRef{p, int64(vl)})
		}
		first = false
		p += int64(vl)
	}
	return out, nil
}

// pickFrame returns frame i's fragments: all of them for a single-frame
// image, one per frame when the counts match.
func (h *header) pickFrame(frags []fragRef, i int) ([]fragRef, error) {
	switch {
	case len(frags) == 0:
		return nil, fmt.Errorf("dicomio: %s: %w: no pixel data fragments", h.path, ErrCorrupt)
	case h.numFrames == 1:
		return frags, nil
	case len(frags) == h.numFrames:
		return frags[i : i+1], nil
	}
	return nil, fmt.Errorf("dicomio: %s: %w: %d fragments for %d frames", h.path, ErrUnsupportedPixelFormat, len(frags), h.numFrames)
}

// grow applies the buffer-reuse rule (package volume) to *scratch.
func grow(scratch *[]byte, n int) []byte {
	*scratch = volume.Resize(*scratch, n)
	return *scratch
}

func readAt(path string, b []byte, off int64) error {
	f, err := safefile.Open(path)
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

// unsigned32 reports whether samples are unsigned 32-bit words, whose
// values of 2³¹ and more do not fit int32: decodeFrame's output is then to
// be read as []uint32.
func (h *header) unsigned32() bool {
	return h.bitsAllocated == 32 && h.bitsStored == 32 && h.pixelRep == 0
}

// decodeFrame decodes frame i into dst (len rows*cols) as sign-interpreted
// stored values: BitsStored bits at HighBit, sign-extended when
// PixelRepresentation is 1. For unsigned 32-bit samples (unsigned32) dst
// holds the uint32 bit patterns.
func (h *header) decodeFrame(fr *frameReader, i int, dst []int32) error {
	n := h.rows * h.cols
	if len(dst) < n {
		return fmt.Errorf("dicomio: %s: buffer of %d for %d pixels", h.path, len(dst), n)
	}
	dst = dst[:n]
	b, err := fr.frame(h, i)
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
		if h.unsigned32() {
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
		return // full 32-bit words (unsigned ones are read as uint32)
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
