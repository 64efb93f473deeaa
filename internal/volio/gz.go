package volio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
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
// -2 Huffman only, 1 fastest … 9 smallest) by workers goroutines (0 =
// GOMAXPROCS). Memory beyond the input is bounded by about 2×workers blocks.
func writeGzipParallel(w io.Writer, parts [][]byte, level, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
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

	type result struct {
		buf *bytes.Buffer
		err error
	}
	results := make([]chan result, len(blocks))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	bufPool := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	jobs := make(chan int)
	sem := make(chan struct{}, 2*workers) // blocks compressed but not yet written
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()   // runs second: workers exit once jobs is closed
	defer close(done) // runs first: stops the feeder, which closes jobs
	for range min(workers, len(blocks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fw *flate.Writer
			for i := range jobs {
				b := blocks[i]
				buf := bufPool.Get().(*bytes.Buffer)
				buf.Reset()
				var err error
				if fw == nil {
					fw, err = flate.NewWriter(buf, level)
				}
				if err == nil {
					fw.ResetDict(buf, b.dict)
					if _, err = fw.Write(b.in); err == nil {
						if b.last {
							err = fw.Close()
						} else {
							err = fw.Flush()
						}
					}
				}
				results[i] <- result{buf, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range blocks {
			select {
			case sem <- struct{}{}:
			case <-done:
				return
			}
			select {
			case jobs <- i:
			case <-done:
				return
			}
		}
	}()
	crc := crc32.NewIEEE()
	var total uint32
	for i := range blocks {
		// CRC of the input overlaps with the workers' compression.
		crc.Write(blocks[i].in)
		total += uint32(len(blocks[i].in))
		r := <-results[i]
		<-sem
		if r.err != nil {
			return fmt.Errorf("deflate: %w", r.err)
		}
		if _, err := w.Write(r.buf.Bytes()); err != nil {
			return err
		}
		bufPool.Put(r.buf)
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[0:], crc.Sum32())
	binary.LittleEndian.PutUint32(tr[4:], total)
	_, err := w.Write(tr[:])
	return err
}
