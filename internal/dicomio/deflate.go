package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
)

// Deflated Explicit VR Little Endian files hold the whole data set as one
// DEFLATE stream, so a few megabytes can claim gigabytes. Nothing inflated
// is kept between the header parse and the decode: the header is inflated
// until the pixel data start (at most MaxHeaderBytes), and the decoder
// inflates the stream again, skips to the pixel data and reads exactly the
// bytes its frames need, after reserving them against the memory budget.

// parseDeflated parses the header of a deflated data set that starts at
// byte start of r (size bytes in all).
func parseDeflated(path string, r io.ReaderAt, start, size int64) (*header, error) {
	zr := flate.NewReader(io.NewSectionReader(r, start, size-start))
	defer zr.Close()
	var buf []byte
	chunk := 64 << 10
	for {
		if len(buf) >= MaxHeaderBytes {
			return nil, fmt.Errorf("dicomio: %s: %w: deflated header (the elements before the pixel data) inflates past %d MiB", path, ErrCorrupt, MaxHeaderBytes>>20)
		}
		n := min(chunk, MaxHeaderBytes-len(buf))
		old := len(buf)
		buf = append(buf, make([]byte, n)...)
		got, rerr := io.ReadFull(zr, buf[old:])
		buf = buf[:old+got]
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !eof {
			return nil, fmt.Errorf("dicomio: %s: %w: inflating the deflated data set: %w", path, ErrCorrupt, rerr)
		}
		off, hdr, vl, found, werr := findPixelData(buf, 0, false, binary.LittleEndian)
		if werr == nil && found {
			if err := checkNesting(buf[:off], false, binary.LittleEndian); err != nil {
				return nil, fmt.Errorf("dicomio: %s: %w", path, err)
			}
			h, err := libParse(path, buf[:off], false, binary.LittleEndian)
			if err != nil {
				return nil, err
			}
			h.hasPixelData = true
			h.pixOff, h.pixVL = int64(off+hdr), int64(vl)
			if vl == undefinedLen {
				h.pixVL = -1
			}
			h.tsUID, h.size, h.deflated, h.deflateStart = tsDeflateLE, -1, true, start
			return h, nil
		}
		if eof {
			if werr != nil {
				return nil, fmt.Errorf("dicomio: %s: %w: deflated data set: %w", path, ErrCorrupt, werr)
			}
			// The whole data set, without pixel data.
			if err := checkNesting(buf, false, binary.LittleEndian); err != nil {
				return nil, fmt.Errorf("dicomio: %s: %w", path, err)
			}
			h, err := libParse(path, buf, false, binary.LittleEndian)
			if err != nil {
				return nil, err
			}
			h.tsUID, h.size, h.deflated, h.deflateStart = tsDeflateLE, -1, true, start
			return h, nil
		}
		chunk *= 4
	}
}

// inflatePixels inflates a deflated file's native pixel data (all frames)
// after reserving their size against the memory budget; call release when
// done with the bytes.
func (h *header) inflatePixels() (data []byte, release func(), err error) {
	need := int64(h.frameBytes()) * int64(h.numFrames)
	release, err = membudget.Reserve(fmt.Sprintf("dicomio: %s: inflated pixel data (%d frame(s) of %d×%d×%d bits)", h.path, h.numFrames, h.cols, h.rows, h.bitsAllocated), uint64(need))
	if err != nil {
		return nil, release, err
	}
	var src io.ReaderAt
	var size int64
	if h.data != nil {
		src, size = bytes.NewReader(h.data), int64(len(h.data))
	} else {
		f, err := safefile.Open(h.path)
		if err != nil {
			release()
			return nil, func() {}, fmt.Errorf("dicomio: %s: %w", h.path, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			release()
			return nil, func() {}, fmt.Errorf("dicomio: %s: %w", h.path, err)
		}
		src, size = f, st.Size()
	}
	zr := flate.NewReader(io.NewSectionReader(src, h.deflateStart, size-h.deflateStart))
	defer zr.Close()
	if _, err := io.CopyN(io.Discard, zr, h.pixOff); err != nil {
		release()
		return nil, func() {}, fmt.Errorf("dicomio: %s: %w: deflated data end before the pixel data: %w", h.path, ErrCorrupt, err)
	}
	data = make([]byte, need)
	if n, err := io.ReadFull(zr, data); err != nil {
		release()
		return nil, func() {}, fmt.Errorf("dicomio: %s: %w: deflated pixel data hold %d of the %d bytes %d frame(s) of %d×%d×%d bits need (truncated?)", h.path, ErrCorrupt, n, need, h.numFrames, h.cols, h.rows, h.bitsAllocated)
	}
	return data, release, nil
}
