package codec

import (
	"encoding/binary"
	"fmt"
	"github.com/lungctl/lungctl/internal/volume"
)

// JPEG marker codes (T.81 Table B.1) used by the lossless decoder.
const (
	mSOF3 = 0xC3
	mDHT  = 0xC4
	mDAC  = 0xCC
	mRST0 = 0xD0
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDNL  = 0xDC
	mDRI  = 0xDD
	mDHP  = 0xDE
	mEXP  = 0xDF
	mTEM  = 0x01
)

// bitReader reads the entropy-coded segment of a scan MSB first, removing
// stuffed zero bytes. At a marker or the end of the data it supplies zero
// bits and counts them in pad, so a stream that needs them is detected as
// truncated without any bounds check in the hot loop.
type bitReader struct {
	data   []byte
	pos    int    // next byte of data to load
	acc    uint64 // the low n bits are unread stream bits
	n      uint   // number of unread bits in acc
	pad    uint   // how many of the last-loaded bits in acc are fake zeros
	marker bool   // reached a marker or the end of data: load zeros only
	err    error  // first decoding error; sticky
}

// fill loads bytes until at least 57 bits are unread.
func (br *bitReader) fill() {
	// Fast path: the next 8 bytes hold no 0xFF, so no stuffing or marker can
	// occur in them; load as many whole bytes as fit.
	if !br.marker && br.pos+8 <= len(br.data) {
		v := binary.BigEndian.Uint64(br.data[br.pos:])
		x := ^v // a 0xFF byte in v is a zero byte in x
		if (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			k := (64 - br.n) / 8
			br.acc = br.acc<<(8*k) | v>>(64-8*k)
			br.n += 8 * k
			br.pos += int(k)
			return
		}
	}
	for br.n <= 56 {
		if br.marker {
			br.acc <<= 8
			br.n += 8
			br.pad += 8
			continue
		}
		if br.pos >= len(br.data) {
			br.marker = true
			continue
		}
		b := br.data[br.pos]
		if b == 0xFF {
			if br.pos+1 < len(br.data) && br.data[br.pos+1] == 0 {
				br.pos += 2
			} else {
				br.marker = true
				continue
			}
		} else {
			br.pos++
		}
		br.acc = br.acc<<8 | uint64(b)
		br.n += 8
	}
}

// truncated reports whether any fake zero bit has been consumed.
func (br *bitReader) truncated() bool { return br.n < br.pad }

// reset discards all buffered bits (at a restart marker or the end of a scan).
func (br *bitReader) reset() {
	br.acc, br.n, br.pad = 0, 0, 0
}

// diff decodes one Huffman-coded difference with table t (T.81 H.2.1 and
// F.2.2.1). On a bad code it records br.err and returns 0.
func (br *bitReader) diff(t *huffTable) int32 {
	if br.n < 32 {
		br.fill()
	}
	e := &t.lut[(br.acc>>(br.n-lutBits))&(1<<lutBits-1)]
	if e.full != 0 {
		br.n -= uint(e.full)
		return e.diff
	}
	var s uint
	if e.codeLen != 0 {
		br.n -= uint(e.codeLen)
		s = uint(e.sym)
	} else {
		code := int32(br.acc>>(br.n-16)) & 0xFFFF
		l := lutBits + 1
		var c int32
		for ; l <= 16; l++ {
			c = code >> (16 - l)
			if c <= t.maxCode[l] {
				break
			}
		}
		k := int32(-1)
		if l <= 16 {
			k = t.valPtr[l] + c - t.minCode[l]
		}
		if k < 0 || int(k) >= len(t.vals) {
			if br.err == nil {
				br.err = fmt.Errorf("%w: invalid Huffman code", ErrCorrupt)
			}
			br.n = br.pad // stop consuming: the row loop will notice err
			return 0
		}
		br.n -= uint(l)
		s = uint(t.vals[k])
	}
	switch {
	case s == 0:
		return 0
	case s < 16:
		v := int32(br.acc>>(br.n-s)) & (1<<s - 1)
		br.n -= s
		return extend(v, s)
	case s == 16:
		return 32768
	}
	if br.err == nil {
		br.err = fmt.Errorf("%w: difference category %d > 16", ErrCorrupt, s)
	}
	return 0
}

// jpegComponent is one frame component from SOF3.
type jpegComponent struct {
	id   uint8
	done bool // decoded by an earlier scan
	pt   uint // point transform of the scan that decoded it
}

// llDecoder holds the state of one JPEG Lossless frame decode.
type llDecoder struct {
	data      []byte
	pos       int
	sof       bool
	precision int
	rows      int
	cols      int
	comps     []jpegComponent
	tables    [4]huffTable
	restart   int
	dst       []uint16 // caller's buffer to reuse, if large enough
	out       []uint16
}

// DecodeJPEGLossless decodes one JPEG Lossless frame: non-hierarchical
// process 14 (ITU-T T.81 Annex H) with Huffman coding, any predictor 1..7,
// point transform, restart intervals, precision 2..16 and 1..4 components in
// interleaved or separate scans (DICOM transfer syntaxes
// 1.2.840.10008.1.2.4.57 and .70). It returns rows*cols*components samples,
// pixel-interleaved, each the reconstructed sample shifted left by the point
// transform, plus the frame's rows, columns, component count and sample
// precision in bits. Components must not be subsampled.
func DecodeJPEGLossless(frame []byte) (samples []uint16, rows, cols, components, precision int, err error) {
	return DecodeJPEGLosslessInto(nil, frame)
}

// DecodeJPEGLosslessInto is DecodeJPEGLossless writing the samples into dst
// by the buffer-reuse rule (package volume), so a caller decoding
// many slices can reuse one warm buffer; dst's old contents are irrelevant.
func DecodeJPEGLosslessInto(dst []uint16, frame []byte) (samples []uint16, rows, cols, components, precision int, err error) {
	d := &llDecoder{data: frame, dst: dst}
	if err := d.decode(); err != nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("codec: jpeg lossless: %w", err)
	}
	return d.out, d.rows, d.cols, len(d.comps), d.precision, nil
}

// nextMarker reads the marker at data[*pos], skipping its 0xFF prefix and
// fill bytes, and advances *pos past it; ok is false when data end inside
// the fill bytes.
func nextMarker(data []byte, pos *int) (m byte, ok bool, err error) {
	if data[*pos] != 0xFF {
		return 0, false, fmt.Errorf("%w: expected a marker at offset %d, found 0x%02X", ErrCorrupt, *pos, data[*pos])
	}
	for *pos < len(data) && data[*pos] == 0xFF {
		*pos++ // marker prefix and fill bytes
	}
	if *pos >= len(data) {
		return 0, false, nil
	}
	m = data[*pos]
	*pos++
	return m, true, nil
}

// markerSegment returns the parameters of marker m, whose length field
// starts at data[*pos], and advances *pos past them.
func markerSegment(data []byte, pos *int, m byte) ([]byte, error) {
	p := *pos
	if p+2 > len(data) {
		return nil, fmt.Errorf("%w: marker 0xFF%02X at offset %d truncated", ErrCorrupt, m, p-2)
	}
	l := int(binary.BigEndian.Uint16(data[p:]))
	if l < 2 || p+l > len(data) {
		return nil, fmt.Errorf("%w: marker 0xFF%02X at offset %d has length %d, %d bytes left", ErrCorrupt, m, p-2, l, len(data)-p)
	}
	*pos = p + l
	return data[p+2 : p+l], nil
}

func (d *llDecoder) decode() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return fmt.Errorf("%w: no SOI marker at start", ErrCorrupt)
	}
	d.pos = 2
loop:
	for d.pos < len(d.data) {
		m, ok, err := nextMarker(d.data, &d.pos)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch {
		case m == mEOI:
			break loop
		case m == mSOI:
			return fmt.Errorf("%w: second SOI marker at offset %d", ErrCorrupt, d.pos-2)
		case m >= mRST0 && m <= mRST0+7, m == mTEM:
			continue // stray parameterless marker: ignore
		case m == 0:
			return fmt.Errorf("%w: stuffed byte outside entropy-coded data at offset %d", ErrCorrupt, d.pos-2)
		}
		seg, err := markerSegment(d.data, &d.pos, m)
		if err != nil {
			return err
		}
		switch m {
		case mSOF3:
			err = d.parseSOF(seg)
		case 0xC0, 0xC1, 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
			err = fmt.Errorf("%w: SOF%d frame (only SOF3, lossless Huffman, is supported)", ErrUnsupported, m-0xC0)
		case mDAC:
			err = fmt.Errorf("%w: arithmetic coding (DAC marker)", ErrUnsupported)
		case mDHP, mEXP:
			err = fmt.Errorf("%w: hierarchical JPEG (marker 0xFF%02X)", ErrUnsupported, m)
		case mDNL:
			err = fmt.Errorf("%w: DNL marker", ErrUnsupported)
		case mDHT:
			err = d.parseDHT(seg)
		case mDRI:
			if len(seg) != 2 {
				err = fmt.Errorf("%w: DRI length %d", ErrCorrupt, len(seg)+2)
			} else {
				d.restart = int(binary.BigEndian.Uint16(seg))
			}
		case mSOS:
			err = d.parseSOS(seg)
		}
		// APPn, COM, DQT and other segments are skipped.
		if err != nil {
			return err
		}
	}
	if !d.sof {
		return fmt.Errorf("%w: no SOF3 frame header", ErrCorrupt)
	}
	for i, c := range d.comps {
		if !c.done {
			return fmt.Errorf("%w: no scan for component %d (id %d)", ErrCorrupt, i, c.id)
		}
	}
	nf := len(d.comps)
	for i, c := range d.comps {
		if c.pt == 0 {
			continue
		}
		for k := i; k < len(d.out); k += nf {
			d.out[k] <<= c.pt
		}
	}
	return nil
}

// parseFrameHeader reads the fields JPEG's frame headers share (SOF3 of
// ITU T.81, SOF55 of JPEG-LS): sample precision (2…16 bits), lines, columns
// and the component count, which must match the segment's length. name is
// the marker, for errors.
func parseFrameHeader(seg []byte, name string) (p, y, x, nf int, err error) {
	if len(seg) < 6 {
		return 0, 0, 0, 0, fmt.Errorf("%w: %s of %d bytes", ErrCorrupt, name, len(seg))
	}
	p = int(seg[0])
	y = int(binary.BigEndian.Uint16(seg[1:]))
	x = int(binary.BigEndian.Uint16(seg[3:]))
	nf = int(seg[5])
	if len(seg) != 6+3*nf {
		return 0, 0, 0, 0, fmt.Errorf("%w: %s of %d bytes for %d components", ErrCorrupt, name, len(seg), nf)
	}
	if p < 2 || p > 16 {
		return 0, 0, 0, 0, fmt.Errorf("%w: sample precision %d (want 2..16)", ErrCorrupt, p)
	}
	return p, y, x, nf, nil
}

func (d *llDecoder) parseSOF(seg []byte) error {
	if d.sof {
		return fmt.Errorf("%w: second SOF marker", ErrCorrupt)
	}
	p, y, x, nf, err := parseFrameHeader(seg, "SOF3")
	if err != nil {
		return err
	}
	if y == 0 {
		return fmt.Errorf("%w: zero lines in SOF3 (line count by DNL)", ErrUnsupported)
	}
	if x == 0 || nf == 0 {
		return fmt.Errorf("%w: SOF3 with %d columns and %d components", ErrCorrupt, x, nf)
	}
	if nf > 4 {
		return fmt.Errorf("%w: %d components (at most 4)", ErrUnsupported, nf)
	}
	n := x * y * nf
	// Every sample costs at least one bit of Huffman code, so a valid stream
	// of len(data) bytes cannot hold more than 8*len(data) samples.
	if n > MaxSamples || n > 8*len(d.data) {
		return fmt.Errorf("%w: %d×%d×%d samples cannot come from %d bytes (or exceed %d)", ErrCorrupt, y, x, nf, len(d.data), MaxSamples)
	}
	d.comps = make([]jpegComponent, nf)
	for i := range d.comps {
		c := seg[6+3*i:]
		for j := 0; j < i; j++ {
			if d.comps[j].id == c[0] {
				return fmt.Errorf("%w: duplicate component id %d", ErrCorrupt, c[0])
			}
		}
		if nf > 1 && c[1] != 0x11 {
			return fmt.Errorf("%w: component %d sampling factors %d×%d (subsampling)", ErrUnsupported, c[0], c[1]>>4, c[1]&15)
		}
		d.comps[i].id = c[0]
	}
	d.precision, d.rows, d.cols = p, y, x
	// Every sample is written exactly once by its scan, so a reused buffer
	// needs no clearing.
	d.out = volume.Resize(d.dst, n)
	d.sof = true
	return nil
}

func (d *llDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return fmt.Errorf("%w: DHT truncated", ErrCorrupt)
		}
		tc, th := seg[0]>>4, seg[0]&15
		if tc > 1 || th > 3 {
			return fmt.Errorf("%w: DHT table class %d id %d", ErrCorrupt, tc, th)
		}
		var counts [16]uint8
		copy(counts[:], seg[1:17])
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if len(seg) < 17+total {
			return fmt.Errorf("%w: DHT truncated", ErrCorrupt)
		}
		if tc == 0 { // lossless uses DC-class tables only; ignore AC ones
			if err := d.tables[th].build(&counts, seg[17:17+total]); err != nil {
				return fmt.Errorf("DHT table %d: %w", th, err)
			}
		}
		seg = seg[17+total:]
	}
	return nil
}

// scanComp is one component of the current scan.
type scanComp struct {
	off int        // index of the component in the frame (sample offset)
	tbl *huffTable // its Huffman table
}

func (d *llDecoder) parseSOS(seg []byte) error {
	if !d.sof {
		return fmt.Errorf("%w: SOS before SOF3", ErrCorrupt)
	}
	if len(seg) < 1 {
		return fmt.Errorf("%w: empty SOS", ErrCorrupt)
	}
	ns := int(seg[0])
	if ns < 1 || ns > len(d.comps) || len(seg) != 1+2*ns+3 {
		return fmt.Errorf("%w: SOS with %d components in %d bytes", ErrCorrupt, ns, len(seg))
	}
	var sc [4]scanComp
	for k := 0; k < ns; k++ {
		id, td := seg[1+2*k], seg[2+2*k]>>4
		idx := -1
		for i, c := range d.comps {
			if c.id == id {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("%w: SOS names unknown component %d", ErrCorrupt, id)
		}
		if d.comps[idx].done {
			return fmt.Errorf("%w: component %d in two scans", ErrCorrupt, id)
		}
		for j := 0; j < k; j++ {
			if sc[j].off == idx {
				return fmt.Errorf("%w: component %d twice in one scan", ErrCorrupt, id)
			}
		}
		if td > 3 || !d.tables[td].defined {
			return fmt.Errorf("%w: component %d uses undefined Huffman table %d", ErrCorrupt, id, td)
		}
		sc[k] = scanComp{off: idx, tbl: &d.tables[td]}
	}
	sel := int(seg[1+2*ns])
	pt := uint(seg[3+2*ns] & 15)
	if sel < 1 || sel > 7 {
		return fmt.Errorf("%w: predictor selection %d (want 1..7)", ErrCorrupt, sel)
	}
	if int(pt) >= d.precision {
		return fmt.Errorf("%w: point transform %d for precision %d", ErrCorrupt, pt, d.precision)
	}
	if err := d.decodeScan(sc[:ns], sel, pt); err != nil {
		return err
	}
	for _, c := range sc[:ns] {
		d.comps[c.off].done = true
		d.comps[c.off].pt = pt
	}
	return nil
}

// decodeScan decodes the entropy-coded data of one scan starting at d.pos and
// leaves d.pos at the marker that ends it (or at the end of the data).
func (d *llDecoder) decodeScan(sc []scanComp, sel int, pt uint) error {
	br := bitReader{data: d.data, pos: d.pos}
	init := uint16(1) << (uint(d.precision) - pt - 1)
	left := d.restart // MCUs left in this restart interval
	rst := 0
	resetRow := 0 // first row of the current restart interval
	reset := true // next MCU is the first of the scan or of a restart interval
	for y, x := 0, 0; y < d.rows; {
		x1 := d.cols
		if d.restart > 0 && x+left < x1 {
			x1 = x + left
		}
		d.decodeSpan(&br, sc, sel, init, y, x, x1, y == resetRow, reset)
		if br.err != nil {
			return fmt.Errorf("row %d: %w", y, br.err)
		}
		if br.truncated() {
			return fmt.Errorf("%w: entropy-coded data ends in row %d", ErrCorrupt, y)
		}
		reset = false
		left -= x1 - x
		x = x1
		if x == d.cols {
			x = 0
			y++
		}
		if d.restart > 0 && left == 0 && y < d.rows {
			br.reset()
			p := br.pos
			for p+1 < len(d.data) && (d.data[p] != 0xFF || d.data[p+1] == 0 || d.data[p+1] == 0xFF) {
				p++
			}
			want := byte(mRST0 + rst&7)
			if p+1 >= len(d.data) || d.data[p+1] != want {
				return fmt.Errorf("%w: missing RST%d marker before row %d column %d", ErrCorrupt, rst&7, y, x)
			}
			br.pos, br.marker = p+2, false
			rst++
			left = d.restart
			reset = true
			resetRow = y
		}
	}
	// Skip to the marker that ends the scan.
	p := br.pos
	for p < len(d.data) && !(d.data[p] == 0xFF && p+1 < len(d.data) && d.data[p+1] != 0) {
		p++
	}
	d.pos = p
	return nil
}

// decodeSpan decodes MCUs x0..x1-1 of row y. firstRow: y is the first row of
// the scan or of the restart interval (prediction from the left only).
// reset: MCU x0 is the first of the scan or of a restart interval (predicted
// by init).
func (d *llDecoder) decodeSpan(br *bitReader, sc []scanComp, sel int, init uint16, y, x0, x1 int, firstRow, reset bool) {
	nf := len(d.comps)
	stride := d.cols * nf
	row := d.out[y*stride : (y+1)*stride]
	var prev []uint16
	if y > 0 {
		prev = d.out[(y-1)*stride : y*stride]
	}
	x := x0
	if reset || x == 0 {
		// The first MCU: no left neighbour or a forced initial value.
		for _, c := range sc {
			o := x*nf + c.off
			p := init
			if !reset {
				p = prev[o] // x == 0 on a later row: predict from above
			}
			row[o] = p + uint16(br.diff(c.tbl))
		}
		x++
	}
	if len(sc) == 1 {
		// Hot loop: the lookahead-table fast path is inlined with the bit
		// buffer in locals; anything else goes through br.diff.
		c := sc[0]
		t := c.tbl
		lut := &t.lut
		acc, n := br.acc, br.n
		ra := firstRow || sel == 1
		for o := x*nf + c.off; o < x1*nf; o += nf {
			if n < 32 {
				br.acc, br.n = acc, n
				br.fill()
				acc, n = br.acc, br.n
			}
			var p int32
			if ra {
				p = int32(row[o-nf])
			} else {
				p = predict(sel, row[o-nf], prev[o], prev[o-nf])
			}
			e := &lut[(acc>>(n-lutBits))&(1<<lutBits-1)]
			if e.full != 0 {
				n -= uint(e.full)
				row[o] = uint16(p + e.diff)
				continue
			}
			br.acc, br.n = acc, n
			row[o] = uint16(p + br.diff(t))
			acc, n = br.acc, br.n
		}
		br.acc, br.n = acc, n
		return
	}
	for ; x < x1; x++ {
		for _, c := range sc {
			o := x*nf + c.off
			var p int32
			if firstRow {
				p = int32(row[o-nf])
			} else {
				p = predict(sel, row[o-nf], prev[o], prev[o-nf])
			}
			row[o] = uint16(p + br.diff(c.tbl))
		}
	}
}

// predict returns the prediction of selection value sel (T.81 Table H.1) from
// the left (ra), above (rb) and upper-left (rc) reconstructed samples.
func predict(sel int, ra, rb, rc uint16) int32 {
	a, b, c := int32(ra), int32(rb), int32(rc)
	switch sel {
	case 1:
		return a
	case 2:
		return b
	case 3:
		return c
	case 4:
		return a + b - c
	case 5:
		return a + (b-c)>>1
	case 6:
		return b + (a-c)>>1
	default:
		return (a + b) >> 1
	}
}
