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

import "errors"

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
