package codec

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/lungctl/lungctl/internal/volume"
)

// JPEG-LS (ITU-T T.87, LOCO-I) markers.
const (
	mSOF55 = 0xF7 // JPEG-LS frame
	mLSE   = 0xF8 // JPEG-LS preset parameters
)

// lsJ is T.87's run-length order table J[RUNindex].
var lsJ = [32]int{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// lsContext is one regular-mode context (A, B, C, N of T.87 A.2).
type lsContext struct {
	a, b, c, n int32
}

// lsRunContext is one run-interruption context (A, N, Nn; RItype).
type lsRunContext struct {
	a, n, nn int32
	riType   int32
}

// lsDecoder holds one JPEG-LS frame decode.
type lsDecoder struct {
	data      []byte
	pos       int
	sof       bool
	precision int
	rows      int
	cols      int
	comps     int
	maxval    int32
	t1, t2    int32
	t3, reset int32
	preset    bool // LSE type 1 seen
	maxN      int  // most samples the frame may have (MaxSamples)
	dst, out  []uint16

	// Scan state.
	near, rng, qbpp, limit int32
	ctx                    [365]lsContext
	run                    [2]lsRunContext
	runIndex               int
	br                     lsBits
}

// DecodeJPEGLS decodes one JPEG-LS frame (ITU-T T.87; DICOM transfer
// syntaxes 1.2.840.10008.1.2.4.80 lossless and .81 near-lossless) of one
// component: precision 2..16, any NEAR, default or preset (LSE) thresholds
// and RESET. It returns rows*cols samples, rows top to bottom, and the
// frame's rows, columns, component count (1) and precision in bits. Several
// components, mapping tables, restart intervals and a point transform are
// refused as ErrUnsupported. The decode is bit-exact: it follows the
// standard's integer arithmetic throughout.
func DecodeJPEGLS(frame []byte) (samples []uint16, rows, cols, components, precision int, err error) {
	return DecodeJPEGLSInto(nil, frame)
}

// DecodeJPEGLSInto is DecodeJPEGLS writing into dst by the buffer-reuse
// rule (package volume); dst's old contents are irrelevant.
func DecodeJPEGLSInto(dst []uint16, frame []byte) (samples []uint16, rows, cols, components, precision int, err error) {
	return decodeJPEGLS(dst, frame, MaxSamples)
}

// decodeJPEGLS decodes with a bound of limit samples (the fuzz target
// uses a small one).
func decodeJPEGLS(dst []uint16, frame []byte, limit int) (samples []uint16, rows, cols, components, precision int, err error) {
	d := &lsDecoder{data: frame, dst: dst, maxN: limit}
	if err := d.decode(); err != nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("codec: jpeg-ls: %w", err)
	}
	return d.out, d.rows, d.cols, d.comps, d.precision, nil
}

func (d *lsDecoder) decode() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return fmt.Errorf("%w: no SOI marker at start", ErrCorrupt)
	}
	d.pos = 2
	scanned := false
	for d.pos < len(d.data) {
		m, ok, err := nextMarker(d.data, &d.pos)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if m == mEOI {
			break
		}
		if m == mSOI || m == 0 || m >= mRST0 && m <= mRST0+7 {
			return fmt.Errorf("%w: marker 0xFF%02X at offset %d", ErrCorrupt, m, d.pos-2)
		}
		seg, err := markerSegment(d.data, &d.pos, m)
		if err != nil {
			return err
		}
		switch {
		case m == mSOF55:
			err = d.parseSOF(seg)
		case m >= 0xC0 && m <= 0xCF && m != mDHT && m != mDAC || m == 0xF9:
			err = fmt.Errorf("%w: marker 0xFF%02X is not a JPEG-LS frame", ErrUnsupported, m)
		case m == mLSE:
			err = d.parseLSE(seg)
		case m == mDRI:
			if len(seg) < 2 {
				err = fmt.Errorf("%w: DRI of %d bytes", ErrCorrupt, len(seg))
			} else if binary.BigEndian.Uint16(seg) != 0 {
				err = fmt.Errorf("%w: restart intervals", ErrUnsupported)
			}
		case m == mDNL:
			err = fmt.Errorf("%w: DNL marker", ErrUnsupported)
		case m == mSOS:
			if err = d.parseSOS(seg); err == nil {
				err = d.scan()
				scanned = err == nil
			}
		}
		if err != nil {
			return err
		}
	}
	if !d.sof {
		return fmt.Errorf("%w: no SOF55 frame header", ErrCorrupt)
	}
	if !scanned {
		return fmt.Errorf("%w: no scan", ErrCorrupt)
	}
	return nil
}

func (d *lsDecoder) parseSOF(seg []byte) error {
	if d.sof {
		return fmt.Errorf("%w: second SOF55 marker", ErrCorrupt)
	}
	p, y, x, nf, err := parseFrameHeader(seg, "SOF55")
	if err != nil {
		return err
	}
	if nf != 1 {
		return fmt.Errorf("%w: %d components (grey-scale, 1 component, only)", ErrUnsupported, nf)
	}
	if y == 0 || x == 0 {
		return fmt.Errorf("%w: %d×%d frame (line count by DNL or a size extension)", ErrUnsupported, x, y)
	}
	n := x * y
	// Run mode codes at most 2^15 samples per bit, so a stream of len(data)
	// bytes cannot hold more than 8·2^15·len(data) samples; MaxSamples bounds
	// the allocation.
	if n > d.maxN || uint64(n) > uint64(len(d.data))<<18 {
		return fmt.Errorf("%w: %d×%d samples cannot come from %d bytes (or exceed %d)", ErrCorrupt, y, x, len(d.data), d.maxN)
	}
	d.precision, d.rows, d.cols, d.comps = p, y, x, nf
	d.out = volume.Resize(d.dst, n)
	d.sof = true
	return nil
}

// parseLSE reads a preset-parameters segment: type 1 (MAXVAL, T1, T2, T3,
// RESET; 0 means the default). Mapping tables (types 2, 3) and size
// extensions (type 4) are refused.
func (d *lsDecoder) parseLSE(seg []byte) error {
	if len(seg) < 1 {
		return fmt.Errorf("%w: empty LSE segment", ErrCorrupt)
	}
	if seg[0] != 1 {
		return fmt.Errorf("%w: LSE type %d (mapping tables or size extension)", ErrUnsupported, seg[0])
	}
	if len(seg) != 11 {
		return fmt.Errorf("%w: LSE type 1 of %d bytes", ErrCorrupt, len(seg))
	}
	u := func(i int) int32 { return int32(binary.BigEndian.Uint16(seg[1+2*i:])) }
	d.maxval, d.t1, d.t2, d.t3, d.reset = u(0), u(1), u(2), u(3), u(4)
	d.preset = true
	return nil
}

func (d *lsDecoder) parseSOS(seg []byte) error {
	if !d.sof {
		return fmt.Errorf("%w: SOS before SOF55", ErrCorrupt)
	}
	if len(seg) < 1 {
		return fmt.Errorf("%w: empty SOS", ErrCorrupt)
	}
	ns := int(seg[0])
	if ns != 1 || len(seg) != 1+2*ns+3 {
		return fmt.Errorf("%w: SOS of %d bytes for %d components", ErrCorrupt, len(seg), ns)
	}
	if seg[2] != 0 {
		return fmt.Errorf("%w: mapping table %d", ErrUnsupported, seg[2])
	}
	near := int32(seg[3])
	ilv := seg[4]
	if seg[5] != 0 {
		return fmt.Errorf("%w: point transform %d", ErrUnsupported, seg[5]&15)
	}
	if ilv > 2 {
		return fmt.Errorf("%w: interleave mode %d", ErrCorrupt, ilv)
	}
	return d.setup(near)
}

// setup derives the scan's coding parameters (T.87 A.2.1, C.2.4.1.1).
func (d *lsDecoder) setup(near int32) error {
	maxval := int32(1)<<d.precision - 1
	if d.preset && d.maxval != 0 {
		if d.maxval < 1 || d.maxval > maxval {
			return fmt.Errorf("%w: MAXVAL %d for %d-bit samples", ErrCorrupt, d.maxval, d.precision)
		}
		maxval = d.maxval
	}
	if near < 0 || near > min(255, maxval/2) {
		return fmt.Errorf("%w: NEAR %d for MAXVAL %d", ErrCorrupt, near, maxval)
	}
	d.maxval, d.near = maxval, near
	clamp := func(i, j int32) int32 {
		if i > maxval || i < j {
			return j
		}
		return i
	}
	var t1, t2, t3 int32
	if maxval >= 128 {
		f := (min(maxval, 4095) + 128) / 256
		t1 = clamp(f*(3-2)+2+3*near, near+1)
		t2 = clamp(f*(7-3)+3+5*near, t1)
		t3 = clamp(f*(21-4)+4+7*near, t2)
	} else {
		f := 256 / (maxval + 1)
		t1 = clamp(3/f+3*near, near+1)
		t2 = clamp(7/f+5*near, t1)
		t3 = clamp(21/f+7*near, t2)
	}
	reset := int32(64)
	if d.preset {
		if d.t1 != 0 {
			t1 = d.t1
		}
		if d.t2 != 0 {
			t2 = d.t2
		}
		if d.t3 != 0 {
			t3 = d.t3
		}
		if d.reset != 0 {
			reset = d.reset
		}
	}
	if !(near+1 <= t1 && t1 <= t2 && t2 <= t3 && t3 <= maxval) || reset < 3 {
		return fmt.Errorf("%w: thresholds %d, %d, %d, RESET %d for MAXVAL %d, NEAR %d", ErrCorrupt, t1, t2, t3, reset, maxval, near)
	}
	d.t1, d.t2, d.t3, d.reset = t1, t2, t3, reset
	d.rng = (maxval+2*near)/(2*near+1) + 1
	d.qbpp = int32(bits.Len32(uint32(d.rng - 1)))
	bpp := max(2, int32(bits.Len32(uint32(maxval))))
	d.limit = 2 * (bpp + max(8, bpp))
	a := max(2, (d.rng+32)/64)
	for i := range d.ctx {
		d.ctx[i] = lsContext{a: a, n: 1}
	}
	d.run[0] = lsRunContext{a: a, n: 1}
	d.run[1] = lsRunContext{a: a, n: 1, riType: 1}
	d.runIndex = 0
	return nil
}

func (d *lsDecoder) quantize(di int32) int32 {
	switch {
	case di <= -d.t3:
		return -4
	case di <= -d.t2:
		return -3
	case di <= -d.t1:
		return -2
	case di < -d.near:
		return -1
	case di <= d.near:
		return 0
	case di < d.t1:
		return 1
	case di < d.t2:
		return 2
	case di < d.t3:
		return 3
	}
	return 4
}

// reconstruct adds a (dequantised) error to a prediction with the
// modulo-RANGE wrap and the clamp of T.87 A.4.
func (d *lsDecoder) reconstruct(px, errval int32) int32 {
	v := px + errval*(2*d.near+1)
	if v < -d.near {
		v += d.rng * (2*d.near + 1)
	} else if v > d.maxval+d.near {
		v -= d.rng * (2*d.near + 1)
	}
	return min(max(v, 0), d.maxval)
}

// scan decodes the one scan's entropy-coded data that starts at d.pos.
func (d *lsDecoder) scan() error {
	d.br = lsBits{data: d.data, pos: d.pos}
	w := d.cols
	// Line buffers with one extra sample either side: prev[0] and cur[0]
	// are the samples left of column 0, prev[w+1] right of the last.
	prev := make([]int32, w+2)
	cur := make([]int32, w+2)
	for y := 0; y < d.rows; y++ {
		prev[w+1] = prev[w]
		cur[0] = prev[1]
		if err := d.line(prev, cur); err != nil {
			return fmt.Errorf("line %d: %w", y, err)
		}
		row := d.out[y*w : (y+1)*w]
		for x := range row {
			row[x] = uint16(cur[x+1])
		}
		prev, cur = cur, prev
	}
	if d.br.truncated() {
		return fmt.Errorf("%w: entropy-coded data end early", ErrCorrupt)
	}
	d.pos = d.br.end()
	return nil
}

// line decodes one line into cur[1..w] from prev.
func (d *lsDecoder) line(prev, cur []int32) error {
	w := d.cols
	for x := 1; x <= w; {
		ra, rb, rc, rd := cur[x-1], prev[x], prev[x-1], prev[x+1]
		q1, q2, q3 := d.quantize(rd-rb), d.quantize(rb-rc), d.quantize(rc-ra)
		if q1 == 0 && q2 == 0 && q3 == 0 {
			n, err := d.runMode(prev, cur, x)
			if err != nil {
				return err
			}
			x += n
			continue
		}
		sign := int32(1)
		if q1 < 0 || q1 == 0 && (q2 < 0 || q2 == 0 && q3 < 0) {
			sign, q1, q2, q3 = -1, -q1, -q2, -q3
		}
		c := &d.ctx[81*q1+9*q2+q3]
		// MED prediction, corrected by the context bias.
		var px int32
		switch {
		case rc >= max(ra, rb):
			px = min(ra, rb)
		case rc <= min(ra, rb):
			px = max(ra, rb)
		default:
			px = ra + rb - rc
		}
		px = min(max(px+sign*c.c, 0), d.maxval)
		k := 0
		for c.n<<k < c.a {
			k++
			if k > 24 {
				return fmt.Errorf("%w: context statistics out of range", ErrCorrupt)
			}
		}
		m, err := d.br.golomb(k, d.limit, d.qbpp)
		if err != nil {
			return err
		}
		e := int32(m>>1) ^ -int32(m&1) // even → m/2, odd → −(m+1)/2
		if k == 0 && d.near == 0 && 2*c.b <= -c.n {
			e = ^e
		}
		// Context update (A.6).
		c.b += e * (2*d.near + 1)
		c.a += abs32(e)
		if c.n == d.reset {
			c.a >>= 1
			c.b >>= 1
			c.n >>= 1
		}
		c.n++
		if c.b <= -c.n {
			c.b += c.n
			if c.c > -128 {
				c.c--
			}
			if c.b <= -c.n {
				c.b = -c.n + 1
			}
		} else if c.b > 0 {
			c.b -= c.n
			if c.c < 127 {
				c.c++
			}
			if c.b > 0 {
				c.b = 0
			}
		}
		cur[x] = d.reconstruct(px, sign*e)
		x++
	}
	return nil
}

// runMode decodes a run starting at column x (and its interruption sample
// when the run ends inside the line) and returns how many samples it wrote.
func (d *lsDecoder) runMode(prev, cur []int32, x int) (int, error) {
	w := d.cols
	ra := cur[x-1]
	left := w - x + 1
	n := 0
	for {
		bit, err := d.br.bit()
		if err != nil {
			return 0, err
		}
		if bit == 0 {
			break
		}
		cnt := 1 << lsJ[d.runIndex]
		take := min(cnt, left-n)
		n += take
		if take == cnt && d.runIndex < 31 {
			d.runIndex++
		}
		if n == left {
			break
		}
	}
	if n < left {
		if j := lsJ[d.runIndex]; j > 0 {
			v, err := d.br.bits(j)
			if err != nil {
				return 0, err
			}
			n += int(v)
		}
		if n > left {
			return 0, fmt.Errorf("%w: run of %d samples past the end of the line", ErrCorrupt, n)
		}
	}
	for i := 0; i < n; i++ {
		cur[x+i] = ra
	}
	if n == left {
		return n, nil
	}
	// Run interruption sample.
	p := x + n
	rb := prev[p]
	ri := int32(0)
	if abs32(ra-rb) <= d.near {
		ri = 1
	}
	rc := &d.run[ri]
	temp := rc.a
	if ri == 1 {
		temp += rc.n >> 1
	}
	k := 0
	for rc.n<<k < temp {
		k++
		if k > 24 {
			return 0, fmt.Errorf("%w: run context statistics out of range", ErrCorrupt)
		}
	}
	m, err := d.br.golomb(k, d.limit-int32(lsJ[d.runIndex])-1, d.qbpp)
	if err != nil {
		return 0, err
	}
	t := int32(m) + ri
	mp := t & 1
	eabs := (t + mp) / 2
	var e int32
	if (k != 0 || 2*rc.nn >= rc.n) == (mp == 1) {
		e = -eabs
	} else {
		e = eabs
	}
	if e < 0 {
		rc.nn++
	}
	rc.a += (int32(m) + 1 - ri) >> 1
	if rc.n == d.reset {
		rc.a >>= 1
		rc.n >>= 1
		rc.nn >>= 1
	}
	rc.n++
	if ri == 1 {
		cur[p] = d.reconstruct(ra, e)
	} else {
		s := int32(1)
		if rb < ra {
			s = -1
		}
		cur[p] = d.reconstruct(rb, s*e)
	}
	if d.runIndex > 0 {
		d.runIndex--
	}
	return n + 1, nil
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// lsBits reads JPEG-LS entropy-coded bits MSB first: after a 0xFF byte the
// next byte carries 7 bits (its top bit is a stuffed 0); 0xFF followed by a
// byte with its top bit set is a marker and ends the data. Past the end it
// supplies zero bits and counts them, so a stream that needs them is
// detected as truncated.
type lsBits struct {
	data   []byte
	pos    int
	acc    uint64
	n      uint // unread bits in the low end of acc
	pad    uint // fake zero bits loaded past the end
	ff     bool // the last byte loaded was 0xFF
	marker bool
}

func (b *lsBits) fill() {
	for b.n <= 56 {
		if b.marker || b.pos >= len(b.data) {
			b.marker = true
			b.acc <<= 8
			b.n += 8
			b.pad += 8
			continue
		}
		c := b.data[b.pos]
		if b.ff {
			if c&0x80 != 0 {
				// The 0xFF before was a marker's prefix, loaded as data:
				// take its 8 bits back and leave it for the marker parser.
				b.marker = true
				b.pos--
				b.ff = false
				if b.n < 8 {
					// Already consumed: the stream ran into the marker.
					b.acc, b.n, b.pad = 0, 0, 1
					continue
				}
				b.acc >>= 8
				b.n -= 8
				continue
			}
			b.acc = b.acc<<7 | uint64(c)
			b.n += 7
			b.pos++
			b.ff = false
			continue
		}
		b.acc = b.acc<<8 | uint64(c)
		b.n += 8
		b.pos++
		b.ff = c == 0xFF
	}
}

// truncated reports whether a fake zero bit has been consumed.
func (b *lsBits) truncated() bool { return b.n < b.pad }

// end returns the offset of the first byte after the entropy-coded data
// (the next marker).
func (b *lsBits) end() int {
	p := b.pos
	for p < len(b.data) && !(b.data[p] == 0xFF && p+1 < len(b.data) && b.data[p+1]&0x80 != 0) {
		p++
	}
	return p
}

func (b *lsBits) bit() (uint32, error) {
	if b.n == 0 {
		b.fill()
	}
	b.n--
	if b.n < b.pad {
		return 0, fmt.Errorf("%w: entropy-coded data end early", ErrCorrupt)
	}
	return uint32(b.acc>>b.n) & 1, nil
}

func (b *lsBits) bits(k int) (uint32, error) {
	if k == 0 {
		return 0, nil
	}
	if b.n < uint(k) {
		b.fill()
	}
	b.n -= uint(k)
	if b.n < b.pad {
		return 0, fmt.Errorf("%w: entropy-coded data end early", ErrCorrupt)
	}
	return uint32(b.acc>>b.n) & (1<<uint(k) - 1), nil
}

// golomb reads one limited-length Golomb code (T.87 A.5.3): a unary prefix
// of zeros ended by a one, then k bits, or, for a prefix of limit−qbpp−1
// zeros or more, qbpp bits holding the value minus one.
func (b *lsBits) golomb(k int, limit, qbpp int32) (uint32, error) {
	var zeros int32
	for {
		if b.n == 0 || b.acc<<(64-b.n) == 0 {
			zeros += int32(b.n)
			b.n = 0
			b.fill()
			if b.n <= b.pad {
				return 0, fmt.Errorf("%w: entropy-coded data end early", ErrCorrupt)
			}
			if zeros > limit {
				return 0, fmt.Errorf("%w: Golomb code longer than LIMIT %d", ErrCorrupt, limit)
			}
			continue
		}
		z := int32(bits.LeadingZeros64(b.acc << (64 - b.n)))
		zeros += z
		b.n -= uint(z) + 1
		break
	}
	if b.n < b.pad {
		return 0, fmt.Errorf("%w: entropy-coded data end early", ErrCorrupt)
	}
	if zeros >= limit-qbpp-1 {
		if zeros > limit-qbpp-1 {
			return 0, fmt.Errorf("%w: Golomb prefix %d over LIMIT %d", ErrCorrupt, zeros, limit)
		}
		v, err := b.bits(int(qbpp))
		return v + 1, err
	}
	v, err := b.bits(k)
	return uint32(zeros)<<uint(k) | v, err
}
