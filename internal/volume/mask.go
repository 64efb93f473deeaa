package volume

import "slices"

// RowSpan returns the indices of the first and last non-zero bytes of a
// mask row (a run of x at one y and z), or −1, −1 when it has none. It
// reads the row from each end only as far as those bytes.
func RowSpan(row []uint8) (first, last int) {
	first = slices.IndexFunc(row, func(v uint8) bool { return v != 0 })
	if first < 0 {
		return -1, -1
	}
	last = len(row) - 1
	for row[last] == 0 {
		last--
	}
	return first, last
}
