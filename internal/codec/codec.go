// Package codec holds native (pure Go) decoders for DICOM encapsulated pixel
// data: RLE Lossless (PS3.5 Annex G, transfer syntax 1.2.840.10008.1.2.5) and
// JPEG Lossless non-hierarchical process 14 (ITU-T T.81 Annex H, transfer
// syntaxes 1.2.840.10008.1.2.4.57 and 1.2.840.10008.1.2.4.70).
//
// Both decoders take one complete frame (all fragments of the frame joined)
// and return the stored sample values as unsigned bit patterns in uint16,
// pixel-interleaved (sample s of pixel p at index p*samplesPerPixel+s), rows
// top to bottom, columns left to right. Interpreting the pattern (signed
// PixelRepresentation, BitsStored masking, rescale to HU) is the caller's job.
//
// Corrupt or truncated input returns an error wrapping ErrCorrupt; valid but
// unimplemented features return an error wrapping ErrUnsupported. Neither
// decoder panics on any input, and both bound their allocation by MaxSamples
// and by what the input size can possibly encode.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error caused by malformed or truncated
// compressed data.
var ErrCorrupt = errors.New("corrupt compressed data")

// ErrUnsupported is wrapped by every error caused by a well-formed stream that
// uses a feature these decoders do not implement (for example a lossy JPEG
// process, hierarchical JPEG, subsampled components or 32-bit RLE samples).
var ErrUnsupported = errors.New("unsupported compressed data")

// MaxSamples is the largest number of samples (rows*cols*components) either
// decoder will allocate for one frame: 1<<28 samples, 512 MiB of uint16.
const MaxSamples = 1 << 28

// FrameSize reads the frame header (SOF) of a JPEG or JPEG-LS stream
// without decoding anything: rows, columns and components. A caller that
// knows the size its container announces (DICOM Rows and Columns) checks
// it first, so a small stream claiming a huge frame is refused before the
// decoder allocates for it.
func FrameSize(frame []byte) (rows, cols, components int, err error) {
	if len(frame) < 2 || frame[0] != 0xFF || frame[1] != mSOI {
		return 0, 0, 0, fmt.Errorf("codec: %w: no SOI marker at start", ErrCorrupt)
	}
	p := 2
	for p+4 <= len(frame) {
		if frame[p] != 0xFF {
			return 0, 0, 0, fmt.Errorf("codec: %w: expected a marker at offset %d", ErrCorrupt, p)
		}
		m := frame[p+1]
		if m == 0xFF {
			p++
			continue
		}
		if m == mSOI || m == mEOI || m >= mRST0 && m <= mRST0+7 || m == mTEM {
			p += 2
			continue
		}
		l := int(binary.BigEndian.Uint16(frame[p+2:]))
		if l < 2 || p+2+l > len(frame) {
			break
		}
		seg := frame[p+4 : p+2+l]
		if (m >= 0xC0 && m <= 0xCF && m != mDHT && m != mDAC && m != 0xC8) || m == mSOF55 {
			if len(seg) < 6 {
				break
			}
			return int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:])), int(seg[5]), nil
		}
		if m == mSOS {
			break
		}
		p += 2 + l
	}
	return 0, 0, 0, fmt.Errorf("codec: %w: no frame header before the scan data", ErrCorrupt)
}
