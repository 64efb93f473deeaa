package volio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"

	"github.com/lungctl/lungctl/internal/par"
)

// gzBlock is the size in bytes of the input blocks compressed in parallel.
// Each block but the last ends with a DEFLATE sync flush (an empty stored
// block), so the concatenated blocks form ONE ordinary DEFLATE stream inside
// ONE gzip member (the technique pigz uses); each block is primed with the
// previous 32 KiB of input as its dictionary, so little ratio is lost at
// block boundaries. Any gzip reader (zlib, Python gzip/nibabel, ITK,
// dcm2niix) reads the result.
const gzBlock = 1 << 20

// writeGzipParallel writes the concatenation of parts to w as a single-member
// gzip stream compressed at DEFLATE level (klauspost/compress/flate levels:
// -2 Huffman only, 1 fastest … 9 smallest), in parallel under internal/par's
// worker budget (workers > 0 caps the goroutines further). Blocks are
// compressed in rounds of a few per worker, the round's CRC-32 alongside,
// and written in order, so the output does not depend on scheduling and
// memory beyond the input is bounded by one round of compressed blocks.
func writeGzipParallel(w io.Writer, parts [][]byte, level, workers int) error {
	if level < -2 || level > 9 {
		return fmt.Errorf("gzip level %d outside -2…9", level)
	}
	// Cut the parts into blocks; a block never spans two parts, so blocks
	// are sub-slices of the caller's memory (no copy of the input).
	type block struct {
		in, dict []byte
		last     bool
	}
	var blocks []block
	for _, p := range parts {
		for off := 0; off < len(p); off += gzBlock {
			end := min(off+gzBlock, len(p))
			var dict []byte
			if off > 0 {
				dict = p[max(0, off-32768):off]
			} else if len(blocks) > 0 {
				// Previous part's tail is a valid dictionary too.
				pb := blocks[len(blocks)-1].in
				dict = pb[max(0, len(pb)-32768):]
			}
			blocks = append(blocks, block{in: p[off:end], dict: dict})
		}
	}
	if len(blocks) == 0 {
		blocks = append(blocks, block{})
	}
	blocks[len(blocks)-1].last = true

	// gzip member header (RFC 1952): no name, mtime 0, OS unknown.
	hdr := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	switch level {
	case 1, -2:
		hdr[8] = 4 // XFL: fastest
	case 9:
		hdr[8] = 2 // XFL: maximum compression
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}

	round := 4 * par.Limit()
	if workers > 0 {
		round = workers // at most workers blocks (+ the CRC) at once
	}
	writers := make([]*flate.Writer, par.Limit())
	bufs := make([]*bytes.Buffer, round)
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
	}
	errs := make([]error, round)
	crc := crc32.NewIEEE()
	var total uint32
	for r0 := 0; r0 < len(blocks); r0 += round {
		rb := blocks[r0:min(r0+round, len(blocks))]
		// Items 0..len(rb)-1 compress one block each; item len(rb) runs
		// the round's CRC-32 alongside them.
		par.For(len(rb)+1, func(wk, i int) {
			if i == len(rb) {
				for _, b := range rb {
					crc.Write(b.in)
					total += uint32(len(b.in))
				}
				return
			}
			b, buf := rb[i], bufs[i]
			buf.Reset()
			fw := writers[wk]
			var err error
			if fw == nil {
				if fw, err = flate.NewWriter(buf, level); err != nil {
					errs[i] = err
					return
				}
				writers[wk] = fw
			}
			fw.ResetDict(buf, b.dict)
			if _, err = fw.Write(b.in); err == nil {
				if b.last {
					err = fw.Close()
				} else {
					err = fw.Flush()
				}
			}
			errs[i] = err
		})
		for i := range rb {
			if errs[i] != nil {
				return fmt.Errorf("deflate: %w", errs[i])
			}
			if _, err := w.Write(bufs[i].Bytes()); err != nil {
				return err
			}
		}
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[0:], crc.Sum32())
	binary.LittleEndian.PutUint32(tr[4:], total)
	_, err := w.Write(tr[:])
	return err
}
