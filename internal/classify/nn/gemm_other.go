//go:build !amd64

package nn

var useKernel = false

func kern4x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc int) {
	panic("nn: no assembly kernel on this architecture")
}
