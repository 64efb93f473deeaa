//go:build !amd64

package cpufeat

func hasAVX2FMA() bool { return false }
