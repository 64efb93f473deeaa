package dicomio

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks Linux to back a freshly allocated, not yet touched slice
// with transparent huge pages (MADV_HUGEPAGE), so filling a 64 MiB volume
// takes tens of page faults instead of tens of thousands. Failure is
// harmless and ignored.
func adviseHuge(v []int16) {
	const hugePage = 2 << 20
	if len(v)*2 < 2*hugePage {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	lo := (p + hugePage - 1) &^ (hugePage - 1)
	hi := (p + uintptr(len(v)*2)) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	base := unsafe.Pointer(unsafe.SliceData(v))
	b := unsafe.Slice((*byte)(unsafe.Add(base, lo-p)), hi-lo)
	_ = syscall.Madvise(b, 14 /* MADV_HUGEPAGE */)
}
