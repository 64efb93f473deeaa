//go:build !linux

package dicomio

// adviseHuge is a no-op outside Linux.
func adviseHuge(v []int16) {}
