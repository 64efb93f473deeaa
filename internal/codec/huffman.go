package codec

import "fmt"

// lutBits is the number of bits the Huffman lookahead table indexes.
const lutBits = 9

// lutEntry is one slot of the lookahead table, indexed by the next lutBits
// bits of the stream.
type lutEntry struct {
	diff    int32 // the decoded difference when full != 0
	codeLen uint8 // length of the Huffman code; 0: code longer than lutBits
	sym     uint8 // SSSS, the difference category
	full    uint8 // code plus extra bits when they all fit in lutBits, else 0
}

// huffTable is a decoding table for one lossless DC-class Huffman table
// (T.81 Annex C and F.2.2.3).
type huffTable struct {
	defined bool
	lut     [1 << lutBits]lutEntry
	maxCode [18]int32 // largest code of each length, -1 if none; [17] sentinel
	valPtr  [17]int32 // index in vals of the first code of each length
	minCode [17]int32
	vals    []uint8
}

// build fills t from the 16 code-length counts and the symbol values of a
// DHT segment.
func (t *huffTable) build(counts *[16]uint8, vals []uint8) error {
	total := 0
	for _, c := range counts {
		total += int(c)
	}
	if total == 0 || total > 256 || total != len(vals) {
		return fmt.Errorf("%w: Huffman table with %d codes and %d values", ErrCorrupt, total, len(vals))
	}
	t.vals = append(t.vals[:0], vals...)
	for i := range t.lut {
		t.lut[i] = lutEntry{}
	}
	code := int32(0)
	k := 0
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.valPtr[l] = int32(k)
		t.minCode[l] = code
		if n == 0 {
			t.maxCode[l] = -1
		} else {
			t.maxCode[l] = code + n - 1
			if t.maxCode[l] >= 1<<l {
				return fmt.Errorf("%w: Huffman table over-subscribed at length %d", ErrCorrupt, l)
			}
		}
		for j := int32(0); j < n; j++ {
			if l <= lutBits {
				s := vals[k]
				e := lutEntry{codeLen: uint8(l), sym: s}
				// Fill every slot whose leading l bits equal code.
				lo := int(code) << (lutBits - l)
				hi := lo + 1<<(lutBits-l)
				for x := lo; x < hi; x++ {
					e := e
					switch {
					case s == 0:
						e.full = uint8(l)
					case s < 16 && l+int(s) <= lutBits:
						extra := int32(x>>(lutBits-l-int(s))) & (1<<s - 1)
						e.diff = extend(extra, uint(s))
						e.full = uint8(l + int(s))
					}
					t.lut[x] = e
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	t.maxCode[17] = 1 << 30 // never reached for valid codes: stops the slow loop
	t.defined = true
	return nil
}

// extend converts the s extra bits v of a difference of category s into the
// signed difference (T.81 F.2.2.1, EXTEND).
func extend(v int32, s uint) int32 {
	if v < 1<<(s-1) {
		return v - (1 << s) + 1
	}
	return v
}
