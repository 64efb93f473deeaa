package codec

import (
	"encoding/binary"
	"fmt"
	"github.com/lungctl/lungctl/internal/volume"
)

// rleHeaderSize is the size in bytes of the RLE header: the segment count
// followed by 15 segment offsets, all little-endian uint32.
const rleHeaderSize = 64

// DecodeRLE decodes one DICOM RLE Lossless frame (PS3.5 Annex G) of rows×cols
// pixels with samplesPerPixel samples (1 or 3) of bitsAllocated bits (8 or
// 16) each. The result holds rows*cols*samplesPerPixel samples,
// pixel-interleaved, each the unsigned bit pattern of the stored sample (8-bit
// samples as 0..255). Segments that decode to more than rows*cols bytes (an
// encoder's even-length padding) are truncated; segments that decode to fewer
// are an error wrapping ErrCorrupt.
func DecodeRLE(frame []byte, rows, cols, bitsAllocated, samplesPerPixel int) ([]uint16, error) {
	return DecodeRLEInto(nil, frame, rows, cols, bitsAllocated, samplesPerPixel)
}

// DecodeRLEInto is DecodeRLE writing into dst by the buffer-reuse rule
// (package volume), so a caller decoding many slices can reuse one warm
// buffer. It returns the filled slice of rows*cols*samplesPerPixel
// samples; dst's old contents are irrelevant.
func DecodeRLEInto(dst []uint16, frame []byte, rows, cols, bitsAllocated, samplesPerPixel int) ([]uint16, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("codec: rle: %w: image size %d×%d", ErrCorrupt, rows, cols)
	}
	if samplesPerPixel != 1 && samplesPerPixel != 3 {
		return nil, fmt.Errorf("codec: rle: %w: %d samples per pixel (want 1 or 3)", ErrUnsupported, samplesPerPixel)
	}
	var bytesPerSample int
	switch bitsAllocated {
	case 8:
		bytesPerSample = 1
	case 16:
		bytesPerSample = 2
	default:
		return nil, fmt.Errorf("codec: rle: %w: %d bits allocated (want 8 or 16)", ErrUnsupported, bitsAllocated)
	}
	if rows > MaxSamples/cols || rows*cols > MaxSamples/samplesPerPixel {
		return nil, fmt.Errorf("codec: rle: %w: image %d×%d×%d exceeds %d samples", ErrCorrupt, rows, cols, samplesPerPixel, MaxSamples)
	}
	if len(frame) < rleHeaderSize {
		return nil, fmt.Errorf("codec: rle: %w: frame of %d bytes is shorter than the %d-byte header", ErrCorrupt, len(frame), rleHeaderSize)
	}
	nseg := int(binary.LittleEndian.Uint32(frame))
	want := samplesPerPixel * bytesPerSample
	if nseg != want {
		return nil, fmt.Errorf("codec: rle: %w: header has %d segments, want %d for %d samples of %d bits", ErrCorrupt, nseg, want, samplesPerPixel, bitsAllocated)
	}
	npix := rows * cols
	var offs [16]int
	for i := 0; i < nseg; i++ {
		o := binary.LittleEndian.Uint32(frame[4+4*i:])
		if o < rleHeaderSize || uint64(o) > uint64(len(frame)) {
			return nil, fmt.Errorf("codec: rle: %w: segment %d offset %d outside [%d, %d]", ErrCorrupt, i, o, rleHeaderSize, len(frame))
		}
		offs[i] = int(o)
		if i > 0 && offs[i] < offs[i-1] {
			return nil, fmt.Errorf("codec: rle: %w: segment %d offset %d precedes segment %d offset %d", ErrCorrupt, i, offs[i], i-1, offs[i-1])
		}
	}
	offs[nseg] = len(frame)
	// Each two input bytes expand to at most 128 output bytes, so a segment of
	// n bytes cannot fill more than 64*n pixels: refuse before allocating.
	for i := 0; i < nseg; i++ {
		if n := offs[i+1] - offs[i]; n < 2 || npix/64 > n {
			return nil, fmt.Errorf("codec: rle: %w: segment %d has %d bytes, too few for %d pixels", ErrCorrupt, i, n, npix)
		}
	}
	out := volume.Resize(dst, npix*samplesPerPixel)
	clear(out) // planes are ORed in
	for s := 0; s < samplesPerPixel; s++ {
		for b := 0; b < bytesPerSample; b++ {
			seg := s*bytesPerSample + b
			shift := uint(8 * (bytesPerSample - 1 - b))
			if err := rleSegment(frame[offs[seg]:offs[seg+1]], out[s:], samplesPerPixel, npix, shift); err != nil {
				return nil, fmt.Errorf("codec: rle: segment %d: %w", seg, err)
			}
		}
	}
	return out, nil
}

// rleSegment decodes one PackBits segment holding one byte plane of npix
// bytes and ORs each byte, shifted left by shift bits, into dst[i*stride].
// Segments are written most significant byte first, so each plane's bits are
// disjoint and OR assembles the samples.
func rleSegment(src []byte, dst []uint16, stride, npix int, shift uint) error {
	p := 0 // pixels produced
	i := 0 // read position in src
	for p < npix {
		if i >= len(src) {
			return fmt.Errorf("%w: segment ends after %d of %d bytes", ErrCorrupt, p, npix)
		}
		h := int8(src[i])
		i++
		switch {
		case h >= 0: // literal run of h+1 bytes
			n := int(h) + 1
			if i+n > len(src) {
				return fmt.Errorf("%w: literal run of %d bytes at offset %d passes the segment end", ErrCorrupt, n, i-1)
			}
			if n > npix-p {
				n = npix - p
			}
			lit := src[i : i+n]
			if stride == 1 {
				d := dst[p : p+n]
				for k := range d {
					d[k] |= uint16(lit[k]) << shift
				}
			} else {
				d := dst[p*stride:]
				for k, v := range lit {
					d[k*stride] |= uint16(v) << shift
				}
			}
			i += int(h) + 1
			p += n
		case h != -128: // replicate next byte 1-h times
			if i >= len(src) {
				return fmt.Errorf("%w: replicate run at offset %d has no byte", ErrCorrupt, i-1)
			}
			n := 1 - int(h)
			if n > npix-p {
				n = npix - p
			}
			v := uint16(src[i]) << shift
			i++
			if stride == 1 {
				d := dst[p : p+n]
				for k := range d {
					d[k] |= v
				}
			} else {
				d := dst[p*stride:]
				for k := 0; k < n; k++ {
					d[k*stride] |= v
				}
			}
			p += n
		}
		// h == -128 is a no-op.
	}
	return nil
}
