package codec

import (
	"encoding/binary"
	"math/bits"
)

// This file is a test-only JPEG Lossless (T.81 Annex H, process 14) encoder,
// written from the standard so the decoder can be checked on every predictor,
// precision, point transform, restart interval and scan layout.

// testTable is a Huffman table for difference categories 0..16: symbol order
// (HUFFVAL) and each symbol's code length.
type testTable struct {
	vals []uint8
	lens []int
}

// testTables are the tables the encoder can use: a typical one (short codes
// for small categories, codes up to 14 bits), one with every code 5 bits, and
// a reversed one whose common small categories get long codes (exercising the
// decoder's slow path beyond its lookahead table).
var testTables = []testTable{
	{vals: []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		lens: []int{2, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
	{vals: []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		lens: []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}},
	{vals: []uint8{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		lens: []int{2, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16}},
}

// codes returns the BITS list and each category's (code, length) assigned
// canonically as in T.81 Annex C (codes of one length consecutive, in HUFFVAL
// order; lengths ascending).
func (tt testTable) codes() (counts [16]uint8, code [17]uint32, size [17]int) {
	for _, l := range tt.lens {
		counts[l-1]++
	}
	c := uint32(0)
	for l := 1; l <= 16; l++ {
		for i, v := range tt.vals {
			if tt.lens[i] == l {
				code[v], size[v] = c, l
				c++
			}
		}
		c <<= 1
	}
	return
}

// bitWriter writes MSB-first bits with 0xFF byte stuffing.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc int
}

func (w *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | uint64(v>>uint(i)&1)
		w.nacc++
		if w.nacc == 8 {
			b := byte(w.acc)
			w.out = append(w.out, b)
			if b == 0xFF {
				w.out = append(w.out, 0)
			}
			w.acc, w.nacc = 0, 0
		}
	}
}

// flush pads the last byte with 1 bits (T.81 F.1.2.3).
func (w *bitWriter) flush() {
	for w.nacc != 0 {
		w.put(1, 1)
	}
}

func (w *bitWriter) marker(m byte, payload []byte) {
	w.out = append(w.out, 0xFF, m)
	if payload != nil {
		w.out = binary.BigEndian.AppendUint16(w.out, uint16(len(payload)+2))
		w.out = append(w.out, payload...)
	}
}

// llParams selects what encodeLL writes.
type llParams struct {
	rows, cols, nc int
	precision      int
	pt             int
	sel            int
	restart        int  // MCUs per restart interval, 0 for none
	separate       bool // one scan per component instead of one interleaved scan
	tables         []int
	fill           bool // put extra 0xFF fill bytes before markers
}

// encodeLL encodes pixel-interleaved samples (each < 2^precision with its
// low pt bits zero) as a JPEG Lossless stream.
func encodeLL(s []uint16, p llParams) []byte {
	w := &bitWriter{}
	w.marker(0xD8, nil)
	w.marker(0xFE, []byte("lungctl codec test")) // COM, to be skipped
	sof := []byte{byte(p.precision), byte(p.rows >> 8), byte(p.rows), byte(p.cols >> 8), byte(p.cols), byte(p.nc)}
	for c := 0; c < p.nc; c++ {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	// Tables: component c uses table id c%len(p.tables), content p.tables[id].
	var dht []byte
	for id, ti := range p.tables {
		counts, _, _ := testTables[ti].codes()
		dht = append(dht, byte(id))
		dht = append(dht, counts[:]...)
		var vals []uint8
		for l := 1; l <= 16; l++ { // HUFFVAL ordered by code length
			for i, v := range testTables[ti].vals {
				if testTables[ti].lens[i] == l {
					vals = append(vals, v)
				}
			}
		}
		dht = append(dht, vals...)
	}
	w.marker(0xC4, dht)
	w.marker(0xC3, sof)
	if p.restart > 0 {
		w.marker(0xDD, []byte{byte(p.restart >> 8), byte(p.restart)})
	}
	var scans [][]int
	if p.separate {
		for c := 0; c < p.nc; c++ {
			scans = append(scans, []int{c})
		}
	} else {
		all := make([]int, p.nc)
		for c := range all {
			all[c] = c
		}
		scans = [][]int{all}
	}
	for _, comps := range scans {
		sos := []byte{byte(len(comps))}
		for _, c := range comps {
			sos = append(sos, byte(c+1), byte(c%len(p.tables))<<4)
		}
		sos = append(sos, byte(p.sel), 0, byte(p.pt))
		w.marker(0xDA, sos)
		encodeScan(w, s, p, comps)
		if p.fill {
			w.out = append(w.out, 0xFF, 0xFF)
		}
	}
	w.marker(0xD9, nil)
	return w.out
}

// encodeScan writes the entropy-coded data of one scan. Predictions follow
// T.81 H.1.2.1 directly for MCU number m: the first MCU of the scan or of a
// restart interval is predicted by 2^(P-Pt-1), the rest of the row it starts
// (the interval's first line) by Ra, the first column of later rows by Rb,
// everything else by the selected predictor.
func encodeScan(w *bitWriter, s []uint16, p llParams, comps []int) {
	type cc struct {
		code [17]uint32
		size [17]int
	}
	enc := make([]cc, len(comps))
	for k, c := range comps {
		_, enc[k].code, enc[k].size = testTables[p.tables[c%len(p.tables)]].codes()
	}
	val := func(y, x, c int) int32 { return int32(s[(y*p.cols+x)*p.nc+c] >> uint(p.pt)) }
	n := p.rows * p.cols
	rst := 0
	for m := 0; m < n; m++ {
		start := 0
		if p.restart > 0 {
			start = m - m%p.restart
			if m == start && m > 0 {
				w.flush()
				w.marker(byte(0xD0+rst%8), nil)
				rst++
			}
		}
		y, x := m/p.cols, m%p.cols
		for k, c := range comps {
			var pred int32
			switch {
			case m == start:
				pred = 1 << uint(p.precision-p.pt-1)
			case y == start/p.cols:
				pred = val(y, x-1, c)
			case x == 0:
				pred = val(y-1, x, c)
			default:
				ra, rb, rc := val(y, x-1, c), val(y-1, x, c), val(y-1, x-1, c)
				pred = [8]int32{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[p.sel]
			}
			d := (val(y, x, c) - pred) & 0xFFFF
			if d > 32768 {
				d -= 65536
			}
			mag := d
			if mag < 0 {
				mag = -mag
			}
			ssss := bits.Len32(uint32(mag))
			w.put(enc[k].code[ssss], enc[k].size[ssss])
			if ssss > 0 && ssss < 16 {
				if d < 0 {
					d += 1<<uint(ssss) - 1
				}
				w.put(uint32(d), ssss)
			}
		}
	}
	w.flush()
}
