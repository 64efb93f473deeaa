package dicomio

import (
	"errors"
	"fmt"

	"github.com/lungctl/lungctl/internal/codec"
)

// decodeEncapsulated decodes one compressed frame (RLE Lossless, JPEG
// Lossless or JPEG-LS) into dst as raw unsigned bit patterns; fixBits runs
// afterwards.
func (h *header) decodeEncapsulated(frame []byte, dst []int32) error {
	var samples []uint16
	var err error
	if h.tsUID != tsRLE {
		// The stream's own frame size must be the header's before the
		// decoder allocates for it.
		r, c, n, err := codec.FrameSize(frame)
		if err != nil {
			return fmt.Errorf("dicomio: %s: %w: %s: %w", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID), err)
		}
		if r != h.rows || c != h.cols || n != 1 {
			return fmt.Errorf("dicomio: %s: %w: %s frame is %d×%d×%d, header says %d×%d×1", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID), c, r, n, h.cols, h.rows)
		}
	}
	switch h.tsUID {
	case tsRLE:
		if h.bitsAllocated > 16 {
			return fmt.Errorf("dicomio: %s: %w: RLE with BitsAllocated %d", h.path, ErrUnsupportedPixelFormat, h.bitsAllocated)
		}
		samples, err = codec.DecodeRLE(frame, h.rows, h.cols, h.bitsAllocated, 1)
	case tsJPEGLL57, tsJPEGLLSV1:
		var rows, cols, comps int
		samples, rows, cols, comps, _, err = codec.DecodeJPEGLossless(frame)
		if err == nil && (rows != h.rows || cols != h.cols || comps != 1) {
			return fmt.Errorf("dicomio: %s: %w: JPEG frame is %d×%d×%d, header says %d×%d×1", h.path, ErrCorrupt, cols, rows, comps, h.cols, h.rows)
		}
	case tsJPEGLS, tsJPEGLSNear:
		var rows, cols, comps int
		samples, rows, cols, comps, _, err = codec.DecodeJPEGLS(frame)
		if err == nil && (rows != h.rows || cols != h.cols || comps != 1) {
			return fmt.Errorf("dicomio: %s: %w: JPEG-LS frame is %d×%d×%d, header says %d×%d×1", h.path, ErrCorrupt, cols, rows, comps, h.cols, h.rows)
		}
	default:
		return fmt.Errorf("dicomio: %s: %w: %s (%s)%s", h.path, ErrUnsupportedTransferSyntax, h.tsUID, TransferSyntaxName(h.tsUID), decompressHint(h.tsUID))
	}
	if err != nil {
		if errors.Is(err, codec.ErrUnsupported) {
			return fmt.Errorf("dicomio: %s: %w: %s: %w", h.path, ErrUnsupportedPixelFormat, TransferSyntaxName(h.tsUID), err)
		}
		return fmt.Errorf("dicomio: %s: %w: %s: %w", h.path, ErrCorrupt, TransferSyntaxName(h.tsUID), err)
	}
	if len(samples) < len(dst) {
		return fmt.Errorf("dicomio: %s: %w: decoded %d samples, want %d", h.path, ErrCorrupt, len(samples), len(dst))
	}
	for i := range dst {
		dst[i] = int32(samples[i])
	}
	return nil
}
